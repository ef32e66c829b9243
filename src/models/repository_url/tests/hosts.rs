use serde_json::json;

use super::super::{
    MAX_HOSTS, RepositoryHosts, RepositoryUrl, ServiceType, check_repository_hosts,
};
use crate::error::Error;
use ServiceType::{Bitbucket, GitHub, GitLab};

#[test]
#[rustfmt::skip]
fn repository_hosts_metadata_is_checked() {
    let too_many: Vec<String> = (0..=MAX_HOSTS).map(|i| format!("h{i}.example")).collect();
    // slug, metadata, words of the refusal (None: accepted)
    let cases: Vec<(&str, serde_json::Value, Option<&str>)> = vec![
        ("github", json!({}), None),
        ("github", json!({"repository_hosts": []}), None),
        ("github", json!({"repository_hosts": ["github.com", "ghe.example.com"]}), None),
        ("gitlab", json!({"repository_hosts": [{"host": "gl.example.com"}]}), None),
        ("gitlab", json!({"repository_hosts": [{"host": "gl.example.com", "api_base_url": "http://127.0.0.1:8/api/v4"}]}), None),
        ("bitbucket", json!({"repository_hosts": ["bitbucket.org"]}), None),
        ("slack", json!({"api_base_url": "https://slack.com/api"}), None),
        ("slack", json!({"repository_hosts": ["slack.com"]}), Some("only github, gitlab and bitbucket")),
        ("github", json!({"repository_hosts": "github.com"}), Some("must be a list of hosts")),
        ("github", json!({"repository_hosts": [1]}), Some("each entry is a host name")),
        ("github", json!({"repository_hosts": [{"name": "x.example"}]}), Some("each entry is a host name")),
        ("github", json!({"repository_hosts": [{"host": "x.example", "token": "t"}]}), Some("each entry is a host name")),
        ("github", json!({"repository_hosts": ["GHE.example.com"]}), Some("lowercase")),
        ("github", json!({"repository_hosts": ["www.github.com"]}), Some("lowercase, without a www.")),
        ("github", json!({"repository_hosts": ["ghe.example.com:8443"]}), Some("DNS name")),
        ("github", json!({"repository_hosts": ["https://ghe.example.com"]}), Some("DNS name")),
        ("github", json!({"repository_hosts": ["gitlab.com"]}), Some("GitLab's public host")),
        ("gitlab", json!({"repository_hosts": ["bitbucket.org"]}), Some("Bitbucket's public host")),
        ("github", json!({"repository_hosts": ["a.example", "a.example"]}), Some("listed twice")),
        ("github", json!({"repository_hosts": [{"host": "github.com", "api_base_url": "https://x.example"}]}), Some("metadata.api_base_url")),
        ("bitbucket", json!({"repository_hosts": ["bitbucket.example.com"]}), Some("only Bitbucket Cloud")),
        ("gitlab", json!({"repository_hosts": [{"host": "gl.example.com", "api_base_url": "http://gl.example.com/api/v4"}]}), Some("must be https://")),
        ("gitlab", json!({"repository_hosts": [{"host": "gl.example.com", "api_base_url": "https://u:p@gl.example.com/api/v4"}]}), Some("user information")),
        ("gitlab", json!({"repository_hosts": [{"host": "gl.example.com", "api_base_url": "not a url"}]}), Some("not a URL")),
        ("github", json!({"repository_hosts": too_many}), Some("more than 50")),
    ];
    for (slug, metadata, refusal) in cases {
        match (refusal, check_repository_hosts(slug, &metadata)) {
            (None, Ok(())) => {}
            (Some(words), Err(Error::Invalid { field, reason })) => {
                assert_eq!(field, "metadata.repository_hosts", "{metadata}");
                assert!(reason.contains(words), "{metadata}: {reason:?} lacks {words:?}");
            }
            (expected, got) => panic!("{slug} {metadata}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[test]
fn a_malformed_api_base_url_is_refused_when_hosts_are_read() {
    let github = json!({"api_base_url": "ftp://api.example"});
    match RepositoryHosts::from_metadata([("github", &github)]) {
        Err(Error::Invalid { field, reason }) => {
            assert_eq!(field, "metadata.api_base_url");
            assert!(reason.contains("github"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_host_claimed_by_two_services_is_resolved_only_by_service_type() {
    let github = json!({"repository_hosts": ["git.example.com"]});
    let gitlab = json!({"repository_hosts": ["git.example.com"]});
    let hosts = RepositoryHosts::from_metadata([("github", &github), ("gitlab", &gitlab)]).unwrap();
    assert_eq!(
        hosts.conflicts(),
        vec![("git.example.com", vec![GitHub, GitLab])]
    );
    match RepositoryUrl::parse("https://git.example.com/o/r", None, &hosts) {
        Err(Error::Invalid { field, reason }) => {
            assert_eq!(field, "service_type");
            assert!(reason.contains("several services"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let url = RepositoryUrl::parse("https://git.example.com/g/s/p", Some(GitLab), &hosts).unwrap();
    assert_eq!(url.service(), GitLab);
    assert_eq!(
        hosts.api_base(&url).unwrap().as_str(),
        "https://git.example.com/api/v4"
    );
    assert!(RepositoryUrl::parse("https://git.example.com/o/r", Some(Bitbucket), &hosts).is_err());
}
