//! Which client software a node runs, from the version string it reports
//! (`web3_clientVersion` on execution nodes, `/eth/v1/node/version` on beacon nodes).
//!
//! Plugins match on [`ClientVersion::name`] to give client-specific advice (the exact
//! flag for Lighthouse versus Teku), so names form a closed list: the ones in
//! [`CONSENSUS_CLIENTS`] and [`EXECUTION_CLIENTS`], or [`UNKNOWN`]. Anything else (a
//! devnet tool such as ganache or hardhat, a fork with its own name) is `"unknown"`,
//! with `raw` kept for the dashboard.
//!
//! The version is the first `/`- or space-separated part that looks like a release
//! number (`v1.14.8-stable-a9523b64` → `1.14.8`), for known and unknown names alike: a
//! plugin that compares versions must check the name first. Commit hashes, build
//! metadata and the `stable` tag are dropped; a pre-release tag (`rc.1`, `beta`,
//! `unstable`…) is kept (`5.0.0-rc.1`), so an rc is never mistaken for the release.

use crate::contract::ClientVersion;

/// Consensus clients, lower case, as the contract names them.
pub const CONSENSUS_CLIENTS: &[&str] = &[
    "lighthouse",
    "prysm",
    "teku",
    "nimbus",
    "lodestar",
    "grandine",
];

/// Execution clients, lower case, as the contract names them.
pub const EXECUTION_CLIENTS: &[&str] = &["geth", "nethermind", "besu", "erigon", "reth"];

/// The name of a client not in either list.
pub const UNKNOWN: &str = "unknown";

/// Pre-release tags kept in the version: they change what the version means.
const PRE_RELEASE_TAGS: &[&str] = &["alpha", "beta", "rc", "unstable", "dev", "pre", "nightly"];

/// Parses a client's version string. Never fails: an unrecognised string gives name
/// `"unknown"` and, if no release number is found, no version.
pub fn parse_client_version(raw: &str) -> ClientVersion {
    let raw_trimmed = raw.trim();
    let first = raw_trimmed
        .split(|c: char| c == '/' || c.is_whitespace())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = CONSENSUS_CLIENTS
        .iter()
        .chain(EXECUTION_CLIENTS)
        .find(|n| **n == first)
        .copied()
        .unwrap_or(UNKNOWN);
    let version = raw_trimmed
        .split(|c: char| c == '/' || c.is_whitespace())
        .skip(1)
        .find_map(parse_release);
    ClientVersion {
        name: name.to_owned(),
        version,
        raw: raw.to_owned(),
    }
}

/// `v1.14.8-stable-a9523b64` → `1.14.8`; `5.0.0-rc.1` → `5.0.0-rc.1`; `linux-amd64` →
/// none. Two or three numeric parts are accepted (`24.9` is how some tags read).
fn parse_release(part: &str) -> Option<String> {
    let s = part.strip_prefix(['v', 'V']).unwrap_or(part);
    let core_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let core = s[..core_end].trim_end_matches('.');
    let numbers: Vec<&str> = core.split('.').collect();
    if !(2..=3).contains(&numbers.len()) || numbers.iter().any(|n| n.is_empty()) {
        return None;
    }
    let rest = &s[core_end..];
    let pre = rest
        .strip_prefix('-')
        .and_then(|tail| {
            // The pre-release runs to the next build tag ("+abc") or commit ("-d6ba8c3").
            let tag = tail.split(['+', '-']).next().unwrap_or("");
            let word = tag.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
            PRE_RELEASE_TAGS
                .contains(&word.to_ascii_lowercase().as_str())
                .then_some(tag)
        })
        .filter(|tag| !tag.is_empty());
    Some(match pre {
        Some(tag) => format!("{core}-{tag}"),
        None => core.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> (String, Option<String>) {
        let v = parse_client_version(raw);
        assert_eq!(v.raw, raw);
        (v.name, v.version)
    }

    fn known(name: &str, version: &str) -> (String, Option<String>) {
        (name.to_owned(), Some(version.to_owned()))
    }

    #[test]
    fn execution_clients() {
        for (raw, name, version) in [
            (
                "Geth/v1.14.8-stable-a9523b64/linux-amd64/go1.22.6",
                "geth",
                "1.14.8",
            ),
            (
                "Nethermind/v1.28.0+9c4816c2/linux-x64/dotnet8.0.8",
                "nethermind",
                "1.28.0",
            ),
            (
                "besu/v24.9.1/linux-x86_64/openjdk-java-21",
                "besu",
                "24.9.1",
            ),
            ("erigon/2.60.6/linux-amd64/go1.22.7", "erigon", "2.60.6"),
            (
                "reth/v1.0.8-d72e438/x86_64-unknown-linux-gnu",
                "reth",
                "1.0.8",
            ),
        ] {
            assert_eq!(parsed(raw), known(name, version), "{raw}");
        }
    }

    #[test]
    fn consensus_clients() {
        for (raw, name, version) in [
            (
                "Lighthouse/v5.3.0-d6ba8c3/x86_64-linux",
                "lighthouse",
                "5.3.0",
            ),
            (
                "Prysm/v5.1.0/9b367b36fc12ecf565ad649209aa2b5bba8c7797",
                "prysm",
                "5.1.0",
            ),
            (
                "teku/v24.8.0/linux-x86_64/-eclipseadoptium-openjdk64bitservervm-java-21",
                "teku",
                "24.8.0",
            ),
            ("Nimbus/v24.9.0-bd5f2b-stateofus", "nimbus", "24.9.0"),
            ("Lodestar/v1.22.0/6b3bc4b", "lodestar", "1.22.0"),
            ("Lodestar/v1.22.0", "lodestar", "1.22.0"),
            ("Grandine/1.0.0-3b5cd7f/x86_64-linux", "grandine", "1.0.0"),
        ] {
            assert_eq!(parsed(raw), known(name, version), "{raw}");
        }
    }

    #[test]
    fn pre_releases_keep_their_tag() {
        assert_eq!(
            parsed("Geth/v1.15.0-unstable-2e4a1a5d/linux-amd64/go1.23.1"),
            known("geth", "1.15.0-unstable")
        );
        assert_eq!(
            parsed("Lighthouse/v5.0.0-rc.1-abcdef0/x86_64-linux"),
            known("lighthouse", "5.0.0-rc.1")
        );
        assert_eq!(
            parsed("teku/v24.1.0-beta2/linux"),
            known("teku", "24.1.0-beta2")
        );
    }

    /// Ganache is a test tool, not a client plugins give advice for: name unknown,
    /// version still read so the dashboard shows it.
    #[test]
    fn unknown_clients_keep_raw_and_version() {
        assert_eq!(
            parsed("Ganache/v7.9.2/EthereumJS TestRPC/v7.9.2/ethereum-js"),
            ("unknown".to_owned(), Some("7.9.2".to_owned()))
        );
        assert_eq!(
            parsed("HardhatNetwork/2.22.0/@nomicfoundation/edr/0.4.0"),
            ("unknown".to_owned(), Some("2.22.0".to_owned()))
        );
        assert_eq!(parsed(""), ("unknown".to_owned(), None));
        assert_eq!(parsed("geth"), ("geth".to_owned(), None));
        assert_eq!(parsed("Geth/linux-amd64"), ("geth".to_owned(), None));
        assert_eq!(parsed("Geth/v1/linux"), ("geth".to_owned(), None));
    }

    #[test]
    fn names_are_case_insensitive_and_exact() {
        assert_eq!(parsed("GETH/v1.0.0").0, "geth");
        // A fork with its own name is not its upstream.
        assert_eq!(parsed("bor/v1.3.0/linux").0, "unknown");
        assert_eq!(parsed("Gethx/v1.0.0").0, "unknown");
    }
}
