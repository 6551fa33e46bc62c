//! The address guard: which IP addresses the crawler may connect to.
//!
//! A crawler follows links written by strangers. Without a guard, a page linking to
//! `http://169.254.169.254/` or `http://10.0.0.1/admin` makes the crawler probe the
//! operator's own network (server-side request forgery). Unless the configuration allows
//! private addresses, every resolved address must be globally routable or inside one of
//! the networks the operator allowed (`crawl.allowed_private_networks`, e.g. the intranet
//! being crawled); the check runs on the addresses actually connected to (inside DNS
//! resolution), so a hostname that resolves to a private address is refused too, and so
//! is a redirect from an allowed host to any other private one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::{Deserialize, Serialize};

/// A network in CIDR notation (`10.1.0.0/16`, `fd00::/8`; a bare address is that
/// address alone), as written in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Network(IpNet);

impl Network {
    /// Whether `ip` is inside the network; an IPv4-mapped IPv6 address counts as its IPv4
    /// address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        self.0.contains(&ip)
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Network, String> {
        let text = text.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            // `10.1.2.3/8` means 10.0.0.0/8: a network, whatever host bits were written.
            return Ok(Network(net.trunc()));
        }
        match text.parse::<IpAddr>() {
            Ok(ip) => Ok(Network(IpNet::from(ip))),
            Err(_) => Err(format!(
                "invalid network {text:?}: expected CIDR notation such as 10.0.0.0/8 or fd00::/8"
            )),
        }
    }
}

impl TryFrom<String> for Network {
    type Error = String;

    fn try_from(text: String) -> Result<Network, String> {
        text.parse()
    }
}

impl From<Network> for String {
    fn from(network: Network) -> String {
        network.0.to_string()
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Which addresses the crawler may connect to: public ones, those in the allowed
/// networks, or everything when private addresses are allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allow_private: bool,
    networks: Arc<[Network]>,
}

impl AddressPolicy {
    /// A policy; `allow_private` lets every address through, else `networks` are the
    /// non-public networks allowed besides the public address space.
    pub fn new(allow_private: bool, networks: &[Network]) -> AddressPolicy {
        AddressPolicy {
            allow_private,
            networks: networks.into(),
        }
    }

    /// Whether the crawler may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private
            || is_public(ip)
            || self.networks.iter().any(|network| network.contains(ip))
    }
}

/// Whether `ip` is a public, globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b)) // NAT64 can reach private v4
}

/// The error a refused address produces inside the HTTP client.
#[derive(Debug, thiserror::Error)]
#[error("refusing to connect to non-public address {address} of {host}")]
pub struct AddressRefused {
    /// The host being resolved.
    pub host: String,
    /// The first refused address.
    pub address: IpAddr,
}

/// A DNS resolver that refuses the addresses its policy does not allow: a name with any
/// refused address is refused.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: AddressPolicy,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: AddressPolicy) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { policy })
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = resolved.iter().find(|addr| !policy.allows(addr.ip())) {
                let error: Box<dyn std::error::Error + Send + Sync> = Box::new(AddressRefused {
                    host,
                    address: bad.ip(),
                });
                return Err(error);
            }
            let addrs: Addrs = Box::new(resolved.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:2800:220:1:248:1893:25c8:1946",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn allowed_networks_let_in_only_their_addresses() {
        let networks: Vec<Network> = ["10.1.0.0/16", "fd00::/8", "127.0.0.1", "192.168.7.9/24"]
            .iter()
            .map(|text| text.parse().expect("a network"))
            .collect();
        assert_eq!(networks[3].to_string(), "192.168.7.0/24");
        let policy = AddressPolicy::new(false, &networks);
        for ip in [
            "10.1.2.3",
            "::ffff:10.1.200.1",
            "fd12::1",
            "127.0.0.1",
            "192.168.7.200",
            "8.8.8.8",
        ] {
            assert!(policy.allows(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "10.2.0.1",
            "127.0.0.2",
            "::1",
            "169.254.169.254",
            "192.168.8.1",
            "0.0.0.0",
        ] {
            assert!(!policy.allows(ip.parse().unwrap()), "{ip}");
        }
        assert!(AddressPolicy::new(true, &[]).allows("10.2.0.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "intranet", "10.0.0/8", ""] {
            let error = bad.parse::<Network>().expect_err(bad);
            assert!(error.contains("CIDR"), "{error}");
        }
    }
}
