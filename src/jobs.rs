//! `serve`'s periodic tasks. Each task is a plain async function that a test can call
//! directly; the runner calls each on its own interval (one run of a task at a time),
//! logs a failed run, and stops them all when told to.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::error::Result;

type Run = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<()>> + Send>> + Send + Sync>;

struct Job {
    name: &'static str,
    every: Duration,
    run: Run,
}

/// The periodic tasks to run.
#[derive(Default)]
pub struct Jobs {
    jobs: Vec<Job>,
}

impl Jobs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `task`, run at once and then every `every` after the previous run ended.
    pub fn every<F, Fut>(mut self, name: &'static str, every: Duration, task: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.jobs.push(Job {
            name,
            every,
            run: Arc::new(move || Box::pin(task())),
        });
        self
    }

    /// The names of the tasks, in the order added.
    pub fn names(&self) -> Vec<&'static str> {
        self.jobs.iter().map(|j| j.name).collect()
    }

    /// Starts every task on the current runtime.
    pub fn start(self) -> Running {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for job in self.jobs {
            let mut stopped = stopped.clone();
            tasks.spawn(async move {
                loop {
                    if let Err(err) = (job.run)().await {
                        tracing::error!(job = job.name, error = %err, "periodic job failed");
                    }
                    tokio::select! {
                        _ = stopped.wait_for(|s| *s) => return,
                        _ = tokio::time::sleep(job.every) => {}
                    }
                }
            });
        }
        Running { stop, tasks }
    }
}

/// Running tasks; [`Running::stop`] lets each finish its current run and ends them.
pub struct Running {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Running {
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn each_task_runs_at_once_then_on_its_interval_until_stopped() {
        let fast = Arc::new(AtomicU32::new(0));
        let slow = Arc::new(AtomicU32::new(0));
        let (f, s) = (fast.clone(), slow.clone());
        let jobs = Jobs::new()
            .every("fast", Duration::from_millis(10), move || {
                let f = f.clone();
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            })
            .every("slow", Duration::from_secs(3600), move || {
                let s = s.clone();
                async move {
                    s.fetch_add(1, Ordering::SeqCst);
                    Err(crate::Error::NotFound("anything"))
                }
            });
        assert_eq!(jobs.names(), ["fast", "slow"]);
        let running = jobs.start();
        // Three runs of the fast task, however slow the machine is today.
        for _ in 0..1000 {
            if fast.load(Ordering::SeqCst) >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        running.stop().await;
        let after_stop = fast.load(Ordering::SeqCst);
        assert!(after_stop >= 3, "ran {after_stop} times");
        assert_eq!(
            slow.load(Ordering::SeqCst),
            1,
            "a failed run is not retried early"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            fast.load(Ordering::SeqCst),
            after_stop,
            "stopped means stopped"
        );
    }
}
