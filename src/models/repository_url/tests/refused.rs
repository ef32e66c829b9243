use super::super::{RepositoryUrl, ServiceType};
use super::hosts;
use crate::error::Error;
use ServiceType::{Bitbucket, GitHub, GitLab};

#[test]
#[rustfmt::skip]
fn refusals_name_the_field_and_why() {
    let long_gitlab = format!("https://gitlab.com/{}p", "g/".repeat(21));
    let long_url = format!("https://gitlab.com/{}/{}", "a".repeat(200), "b".repeat(60));
    let too_long_input = format!("https://github.com/o/{}", "r".repeat(2100));
    let owner_40 = format!("https://github.com/{}/r", "a".repeat(40));
    let repo_101 = format!("https://github.com/o/{}", "r".repeat(101));
    // input, given service, field, words of the reason
    let cases: &[(&str, Option<ServiceType>, &str, &str)] = &[
        ("", None, "repository_url", "must not be empty"),
        (&too_long_input, None, "repository_url", "at most 2048 bytes"),
        ("https://github.com/octocat/héllo", None, "repository_url", "must be ASCII"),
        (" https://github.com/o/r", None, "repository_url", "spaces or control"),
        ("https://github.com/o/r\n", None, "repository_url", "spaces or control"),
        ("https://github.com/o/r\tx", None, "repository_url", "spaces or control"),
        ("https://github.com/o\\r", None, "repository_url", "backslashes"),
        ("https://github.com/o/r?tab=readme", None, "repository_url", "query"),
        ("https://github.com/o/r#readme", None, "repository_url", "fragment"),
        ("http://github.com/o/r", None, "repository_url", "https://"),
        ("ftp://github.com/o/r", None, "repository_url", "must be https://host/owner/repo"),
        ("git://github.com/o/r.git", None, "repository_url", "must be https://host/owner/repo"),
        ("github.com/o/r", None, "repository_url", "must be https://host/owner/repo"),
        ("o/r", None, "repository_url", "must be https://host/owner/repo"),
        ("https://user@github.com/o/r", None, "repository_url", "user information"),
        ("https://user:hunter2@github.com/o/r", None, "repository_url", "user information"),
        ("https://:@github.com/o/r", None, "repository_url", "user information"),
        ("https://github.com:443/o/r", None, "repository_url", "port"),
        ("https://github.com:/o/r", None, "repository_url", "port"),
        ("ssh://git@github.com:22/o/r.git", None, "repository_url", "port"),
        ("ssh://github.com/o/r.git", None, "repository_url", "log in as git"),
        ("ssh://alice@github.com/o/r.git", None, "repository_url", "log in as git"),
        ("alice@github.com:o/r.git", None, "repository_url", "log in as git"),
        ("git@github.com:/o/r.git", None, "repository_url", "must not start with /"),
        ("git@github.com", None, "repository_url", "must be https://host/owner/repo"),
        ("https:///o/r", None, "repository_url", "names no host"),
        ("https://[::1]/o/r", None, "repository_url", "IPv6"),
        ("https://git_hub.com/o/r", None, "repository_url", "DNS name"),
        ("https://-github.com/o/r", None, "repository_url", "DNS name"),
        ("https://github..com/o/r", None, "repository_url", "DNS name"),
        ("https://github.com./o/r", None, "repository_url", "DNS name"),
        ("https://github.com", None, "repository_url", "names no repository"),
        ("https://github.com/", None, "repository_url", "names no repository"),
        ("https://github.com/.git", None, "repository_url", "names no repository"),
        ("https://github.com/o//r", None, "repository_url", "empty path segments"),
        ("https://github.com/o/r//", None, "repository_url", "empty path segments"),
        ("https://github.com//o/r", None, "repository_url", "empty path segments"),
        ("https://github.com/o/../r", None, "repository_url", ". or .."),
        ("https://github.com/./o/r", None, "repository_url", ". or .."),
        ("https://github.com/o/..", None, "repository_url", ". or .."),
        ("https://github.com/o/r%20x", None, "repository_url", "percent-encoded"),
        ("https://github.com/octocat", None, "repository_url", "names only the owner"),
        ("https://github.com/o/r/tree/main", None, "repository_url", "page inside a repository"),
        ("https://github.com/o/r/issues/1", None, "repository_url", "page inside a repository"),
        ("https://github.com/-o/r", None, "repository_url", "the owner must be"),
        ("https://github.com/o.o/r", None, "repository_url", "the owner must be"),
        ("https://github.com/_acme/r", None, "repository_url", "the owner must be"),
        ("https://github.com/octocat_/r", None, "repository_url", "the owner must be"),
        ("https://github.com/a_b_c/r", None, "repository_url", "the owner must be"),
        (&owner_40, None, "repository_url", "the owner must be"),
        (&repo_101, None, "repository_url", "1 to 100"),
        ("https://github.com/o/r+x", None, "repository_url", "1 to 100"),
        ("https://github.com/o/r~x", None, "repository_url", "1 to 100"),
        ("https://github.com/o/r.git.git", None, "repository_url", "must not end in .git"),
        ("https://github.com/o/r.wiki", None, "repository_url", "wiki"),
        ("https://github.com/o/r.wiki.git", None, "repository_url", "wiki"),
        ("https://gitlab.com/group", None, "repository_url", "names only a namespace"),
        ("https://gitlab.com/group/project/-/tree/main", None, "repository_url", "page inside a project"),
        ("https://gitlab.com/group/project/-/merge_requests", None, "repository_url", "page inside a project"),
        (&long_gitlab, None, "repository_url", "20 levels"),
        ("https://gitlab.com/group/-project", None, "repository_url", "the project path must be"),
        ("https://gitlab.com/-group/project", None, "repository_url", "a group path must be"),
        ("https://gitlab.com/gr+oup/project", None, "repository_url", "a group path must be"),
        ("https://gitlab.com/group/project.atom", None, "repository_url", "must not end in .git or .atom"),
        ("https://gitlab.com/group.git/project", None, "repository_url", "must not end in .git or .atom"),
        ("https://gitlab.com/group/p.git.git", None, "repository_url", "must not end in .git or .atom"),
        (&long_url, None, "repository_url", "longer than 255"),
        ("https://bitbucket.org/team", None, "repository_url", "names only the workspace"),
        ("https://bitbucket.org/team/repo/src/main", None, "repository_url", "page inside a repository"),
        ("https://bitbucket.org/te.am/repo", None, "repository_url", "workspace id"),
        ("https://bitbucket.org/team/re+po", None, "repository_url", "repository slug"),
        ("https://bitbucket.org/{uuid}/repo", None, "repository_url", "workspace id"),
        // Hosts: known ones only, and the service type must match the host.
        ("https://example.com/o/r", None, "repository_url", "not a known GitHub, GitLab or Bitbucket host"),
        ("https://gitlab.example.org/o/r", Some(GitLab), "repository_url", "not a GitLab host"),
        ("https://www.gitlab.example.com/o/r", None, "repository_url", "not a known"),
        ("https://api.github.com/o/r", None, "repository_url", "not a known"),
        ("https://gitlab.com/o/r", Some(GitHub), "service_type", "is github, but gitlab.com is a GitLab host"),
        ("https://github.com/o/r", Some(GitLab), "service_type", "is gitlab, but github.com is a GitHub host"),
        ("git@bitbucket.org:t/r.git", Some(GitHub), "service_type", "Bitbucket host"),
        ("https://github.example.com/o/r", Some(Bitbucket), "service_type", "GitHub host"),
        ("https://gitlab.example.com/o/r", Some(GitHub), "service_type", "GitLab host"),
    ];
    let hosts = hosts();
    for (input, given, field, words) in cases {
        match RepositoryUrl::parse(input, *given, &hosts) {
            Err(Error::Invalid { field: f, reason }) => {
                assert_eq!(f, *field, "{input:?}: {reason}");
                assert!(reason.contains(words), "{input:?}: {reason:?} lacks {words:?}");
            }
            other => panic!("{input:?} should be refused, got {other:?}"),
        }
    }
}

#[test]
fn refusals_never_echo_user_information() {
    let hosts = hosts();
    for input in [
        "https://user:hunter2-secret@github.com/o/r",
        "https://ghp_token0123456789@github.com/o/r",
        "ssh://deploy:hunter2-secret@github.com/o/r.git",
    ] {
        let err = RepositoryUrl::parse(input, None, &hosts)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2") && !err.contains("ghp_"), "{err}");
    }
}
