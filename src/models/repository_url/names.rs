//! Each service's own rules for the path of a repository, applied to the lowercased
//! segments of a URL. The rules accept every name the service still serves, including
//! names older accounts kept when a rule was tightened (a GitHub owner ending in a
//! hyphen, a GitLab path starting with an underscore); they refuse what the service
//! could never serve.
//!
//! - GitHub: the owner is 1–39 letters, digits and hyphens, not starting with a hyphen;
//!   an Enterprise Managed User adds `_` and the enterprise's short code. The
//!   repository is 1–100 letters, digits, `.`, `-` and `_`, never `.` or `..`; GitHub
//!   strips `.git` from a new name and reserves `.wiki` for the wiki.
//! - GitLab: a namespace of up to 20 nested groups, then the project; every segment
//!   letters, digits, `_`, `-` and `.`, not starting with `-`, not ending in `.git` or
//!   `.atom`, at most 255 characters. `/-/` starts a page inside a project.
//! - Bitbucket Cloud: `workspace/repo-slug`; a workspace id is lowercase letters,
//!   digits, `-` and `_`; a slug adds `.`.

use super::ServiceType;

/// Deepest GitLab nesting: 20 levels of groups, then the project.
pub const GITLAB_MAX_SEGMENTS: usize = 21;

/// Checks `segments` (lowercase, non-empty, no `.` or `..`) against `service`'s rules;
/// the error is the reason, naming the part, never echoing it.
pub(super) fn check(service: ServiceType, host: &str, segments: &[&str]) -> Result<(), String> {
    match service {
        ServiceType::GitHub => {
            two_segments(service, host, segments)?;
            github_owner(segments[0])?;
            github_repository(segments[1])
        }
        ServiceType::GitLab => gitlab(host, segments),
        ServiceType::Bitbucket => {
            two_segments(service, host, segments)?;
            bitbucket_workspace(segments[0])?;
            bitbucket_slug(segments[1])
        }
    }
}

fn two_segments(service: ServiceType, host: &str, segments: &[&str]) -> Result<(), String> {
    let (owner, repo) = match service {
        ServiceType::Bitbucket => ("workspace", "repository slug"),
        _ => ("owner", "repository"),
    };
    match segments.len() {
        2 => Ok(()),
        1 => Err(format!(
            "names only the {owner}: expected https://{host}/{owner}/{repo}"
        )),
        _ => Err(format!(
            "names a page inside a repository, not the repository: expected https://{host}/{owner}/{repo}"
        )),
    }
}

fn only(value: &str, allowed: impl Fn(u8) -> bool) -> bool {
    value.bytes().all(allowed)
}

fn alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn github_owner(owner: &str) -> Result<(), String> {
    const RULE: &str = "the owner must be 1 to 39 letters, digits and hyphens, not starting with a hyphen (a managed user's name adds _ and a short code)";
    let (name, short_code) = match owner.split_once('_') {
        Some((name, code)) => (name, Some(code)),
        None => (owner, None),
    };
    let name_ok =
        !name.is_empty() && !name.starts_with('-') && only(name, |b| alnum(b) || b == b'-');
    let code_ok = short_code.is_none_or(|c| !c.is_empty() && only(c, alnum));
    if owner.len() > 39 || !name_ok || !code_ok {
        return Err(RULE.to_owned());
    }
    Ok(())
}

fn github_repository(repo: &str) -> Result<(), String> {
    if repo.len() > 100 || !only(repo, |b| alnum(b) || matches!(b, b'.' | b'-' | b'_')) {
        return Err(
            "the repository name must be 1 to 100 letters, digits, '.', '-' and '_'".to_owned(),
        );
    }
    if repo.ends_with(".git") {
        return Err("the repository name must not end in .git".to_owned());
    }
    if repo.ends_with(".wiki") {
        return Err("names a repository's wiki, not the repository".to_owned());
    }
    Ok(())
}

fn gitlab(host: &str, segments: &[&str]) -> Result<(), String> {
    if segments.contains(&"-") {
        return Err(format!(
            "names a page inside a project (…/-/…), not the project: expected https://{host}/group/project"
        ));
    }
    if segments.len() < 2 {
        return Err(format!(
            "names only a namespace: expected https://{host}/group/project (or group/subgroup/project)"
        ));
    }
    if segments.len() > GITLAB_MAX_SEGMENTS {
        return Err("nests deeper than GitLab allows (20 levels of groups)".to_owned());
    }
    for (i, segment) in segments.iter().enumerate() {
        let part = if i + 1 == segments.len() {
            "the project path"
        } else {
            "a group path"
        };
        if segment.len() > 255
            || segment.starts_with('-')
            || !only(segment, |b| alnum(b) || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(format!(
                "{part} must be letters, digits, '_', '-' and '.', not starting with '-', at most 255 characters"
            ));
        }
        if segment.ends_with(".git") || segment.ends_with(".atom") {
            return Err(format!("{part} must not end in .git or .atom"));
        }
    }
    Ok(())
}

fn bitbucket_workspace(workspace: &str) -> Result<(), String> {
    if !only(workspace, |b| alnum(b) || matches!(b, b'-' | b'_')) {
        return Err("the workspace id must be lowercase letters, digits, '-' and '_'".to_owned());
    }
    Ok(())
}

fn bitbucket_slug(slug: &str) -> Result<(), String> {
    if !only(slug, |b| alnum(b) || matches!(b, b'-' | b'_' | b'.')) {
        return Err(
            "the repository slug must be lowercase letters, digits, '-', '_' and '.'".to_owned(),
        );
    }
    Ok(())
}
