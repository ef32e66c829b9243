use serde_json::json;

use super::super::{RepositoryHosts, RepositoryUrl, ServiceType};
use super::hosts;
use crate::error::Error;
use ServiceType::{Bitbucket, GitHub, GitLab};

/// Input, given service, canonical URL, service, owner, name.
type Case<'a> = (
    &'a str,
    Option<ServiceType>,
    &'a str,
    ServiceType,
    &'a str,
    &'a str,
);

#[test]
#[rustfmt::skip]
fn accepted_forms_canonicalize() {
    let owner_39 = "a".repeat(39);
    let url_owner_39 = format!("https://github.com/{owner_39}/r");
    let repo_100 = "r".repeat(100);
    let url_repo_100 = format!("https://github.com/o/{repo_100}");
    let deep = format!("https://gitlab.com/{}p", "g/".repeat(20));
    let deep_namespace = format!("g{}", "/g".repeat(19));
    let cases: &[Case] = &[
        ("https://github.com/octocat/hello-world", None, "https://github.com/octocat/hello-world", GitHub, "octocat", "hello-world"),
        ("https://github.com/octocat/hello-world", Some(GitHub), "https://github.com/octocat/hello-world", GitHub, "octocat", "hello-world"),
        ("https://github.com/Octocat/Hello-World.git", None, "https://github.com/octocat/hello-world", GitHub, "octocat", "hello-world"),
        ("https://github.com/octocat/hello-world/", None, "https://github.com/octocat/hello-world", GitHub, "octocat", "hello-world"),
        ("https://github.com/octocat/hello-world.git/", None, "https://github.com/octocat/hello-world", GitHub, "octocat", "hello-world"),
        ("https://github.com/octocat/hello-world.GIT", None, "https://github.com/octocat/hello-world", GitHub, "octocat", "hello-world"),
        ("HTTPS://GitHub.COM/octocat/x", None, "https://github.com/octocat/x", GitHub, "octocat", "x"),
        ("https://www.github.com/octocat/x", None, "https://github.com/octocat/x", GitHub, "octocat", "x"),
        ("git@github.com:octocat/hello-world.git", None, "https://github.com/octocat/hello-world", GitHub, "octocat", "hello-world"),
        ("git@github.com:octocat/hello-world", Some(GitHub), "https://github.com/octocat/hello-world", GitHub, "octocat", "hello-world"),
        ("ssh://git@github.com/octocat/hello-world.git", None, "https://github.com/octocat/hello-world", GitHub, "octocat", "hello-world"),
        ("SSH://git@GITHUB.com/octocat/hello-world.git", None, "https://github.com/octocat/hello-world", GitHub, "octocat", "hello-world"),
        // GitHub's names: dots, underscores, a leading dot, a 39-character owner, a
        // legacy trailing hyphen, a managed user's short code, a 100-character name.
        ("https://github.com/a/.github", None, "https://github.com/a/.github", GitHub, "a", ".github"),
        ("https://github.com/my-org/my_repo.js", None, "https://github.com/my-org/my_repo.js", GitHub, "my-org", "my_repo.js"),
        (&url_owner_39, None, &url_owner_39, GitHub, &owner_39, "r"),
        ("https://github.com/old-user-/r", None, "https://github.com/old-user-/r", GitHub, "old-user-", "r"),
        ("https://github.com/octocat_acme/r", None, "https://github.com/octocat_acme/r", GitHub, "octocat_acme", "r"),
        (&url_repo_100, None, &url_repo_100, GitHub, "o", &repo_100),
        ("https://github.com/o/...", None, "https://github.com/o/...", GitHub, "o", "..."),
        // Self-hosted GitHub Enterprise hosts from the catalog.
        ("https://github.example.com/team/tool", None, "https://github.example.com/team/tool", GitHub, "team", "tool"),
        ("git@ghe.internal.example:team/tool.git", Some(GitHub), "https://ghe.internal.example/team/tool", GitHub, "team", "tool"),
        // GitLab: nested groups (20 levels at most), a legacy leading underscore, dots.
        ("https://gitlab.com/gitlab-org/gitlab", None, "https://gitlab.com/gitlab-org/gitlab", GitLab, "gitlab-org", "gitlab"),
        ("https://gitlab.com/group/sub/project", None, "https://gitlab.com/group/sub/project", GitLab, "group/sub", "project"),
        ("https://gitlab.com/Group/Sub/Sub2/Project.git", Some(GitLab), "https://gitlab.com/group/sub/sub2/project", GitLab, "group/sub/sub2", "project"),
        ("git@gitlab.com:group/sub/project.git", None, "https://gitlab.com/group/sub/project", GitLab, "group/sub", "project"),
        ("ssh://git@gitlab.example.com/a/b/c/d.git", None, "https://gitlab.example.com/a/b/c/d", GitLab, "a/b/c", "d"),
        ("https://gitlab.com/_legacy/my.project_1", None, "https://gitlab.com/_legacy/my.project_1", GitLab, "_legacy", "my.project_1"),
        ("https://code/team/app", None, "https://code/team/app", GitLab, "team", "app"),
        (&deep, None, &deep, GitLab, &deep_namespace, "p"),
        // Bitbucket Cloud.
        ("https://bitbucket.org/my-team/my-repo", None, "https://bitbucket.org/my-team/my-repo", Bitbucket, "my-team", "my-repo"),
        ("https://bitbucket.org/My_Team/Repo.Name.git", Some(Bitbucket), "https://bitbucket.org/my_team/repo.name", Bitbucket, "my_team", "repo.name"),
        ("git@bitbucket.org:team/repo.git", None, "https://bitbucket.org/team/repo", Bitbucket, "team", "repo"),
        ("ssh://git@bitbucket.org/team/repo.git", None, "https://bitbucket.org/team/repo", Bitbucket, "team", "repo"),
        ("https://www.bitbucket.org/team/repo", None, "https://bitbucket.org/team/repo", Bitbucket, "team", "repo"),
    ];
    let hosts = hosts();
    for (input, given, canonical, service, owner, name) in cases {
        let url = RepositoryUrl::parse(input, *given, &hosts)
            .unwrap_or_else(|e| panic!("{input} should be accepted: {e}"));
        assert_eq!(url.as_str(), *canonical, "{input}");
        assert_eq!(url.to_string(), *canonical, "{input}");
        assert_eq!(url.service(), *service, "{input}");
        assert_eq!(url.owner(), *owner, "{input}");
        assert_eq!(url.name(), *name, "{input}");
        assert_eq!(url.path(), format!("{owner}/{name}"), "{input}");
        assert_eq!(url.host(), canonical["https://".len()..].split('/').next().unwrap(), "{input}");
        assert_eq!(url.external_id().as_str(), *canonical, "{input}");
        // The canonical form is a fixed point.
        let again = RepositoryUrl::parse(canonical, None, &hosts).expect("canonical parses");
        assert_eq!(again, url, "{input}");
    }
}

#[test]
#[rustfmt::skip]
fn provider_api_paths() {
    let hosts = hosts();
    // input, hooks collection at the host's API
    let cases = [
        ("https://github.com/octocat/hello-world", "https://api.github.com/repos/octocat/hello-world/hooks"),
        ("https://github.example.com/team/tool", "https://github.example.com/api/v3/repos/team/tool/hooks"),
        ("https://ghe.internal.example/team/tool", "https://ghe-api.internal.example/api/v3/repos/team/tool/hooks"),
        ("https://gitlab.com/group/sub/project", "https://gitlab.com/api/v4/projects/group%2Fsub%2Fproject/hooks"),
        ("https://gitlab.example.com/a/b", "https://gitlab.example.com/api/v4/projects/a%2Fb/hooks"),
        ("https://bitbucket.org/team/repo.name", "http://127.0.0.1:9999/2.0/repositories/team/repo.name/hooks"),
    ];
    for (input, hooks) in cases {
        let url = RepositoryUrl::parse(input, None, &hosts).unwrap();
        let base = hosts.api_base(&url).expect("the host has an API");
        assert_eq!(format!("{}/{}", base.as_str().trim_end_matches('/'), url.hooks_path()), hooks);
    }
    let gitlab = RepositoryUrl::parse("https://gitlab.com/g/s/p", None, &hosts).unwrap();
    assert_eq!(gitlab.gitlab_project_id(), "g%2Fs%2Fp");
}

#[test]
fn public_hosts_need_no_catalog() {
    let hosts = RepositoryHosts::public();
    for (input, service) in [
        ("https://github.com/o/r", GitHub),
        ("https://gitlab.com/g/p", GitLab),
        ("https://bitbucket.org/w/r", Bitbucket),
    ] {
        let url = RepositoryUrl::parse(input, None, &hosts).unwrap();
        assert_eq!(url.service(), service);
        assert_eq!(
            hosts.api_base(&url).unwrap().as_str().trim_end_matches('/'),
            service.public_api_base()
        );
    }
    assert!(RepositoryUrl::parse("https://github.example.com/o/r", None, &hosts).is_err());
}

#[test]
fn service_type_parses_slugs_and_names() {
    for (input, service) in [
        ("github", GitHub),
        ("GitHub", GitHub),
        ("GITLAB", GitLab),
        ("Bitbucket", Bitbucket),
    ] {
        assert_eq!(ServiceType::parse(input).unwrap(), service);
    }
    for input in ["", "gitea", "git hub"] {
        assert!(matches!(
            ServiceType::parse(input),
            Err(Error::Invalid {
                field: "service_type",
                ..
            })
        ));
    }
    assert_eq!(serde_json::to_value(GitLab).unwrap(), json!("gitlab"));
    assert_eq!(
        serde_json::from_value::<ServiceType>(json!("GitHub")).unwrap(),
        GitHub
    );
    let url = RepositoryUrl::parse("https://github.com/o/r", None, &hosts()).unwrap();
    assert_eq!(
        serde_json::to_value(url).unwrap(),
        json!("https://github.com/o/r")
    );
}
