//! Politeness: at most N requests in flight per host, and a delay between request starts
//! that is the largest of the configured minimum, robots.txt `Crawl-delay`, a multiple of
//! the host's last response time, and a back-off after 429/503 answers. On top of that, all
//! the host names served from one IP address share a per-IP connection limit and delay, so
//! a hundred virtual hosts on one server are not fetched a hundred times as fast.
//!
//! Only hosts with work are scheduled; the schedule is a min-heap of "next allowed" times.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::robots::Robots;

/// robots.txt knowledge about one host.
#[derive(Debug, Clone)]
pub enum RobotsState {
    /// Not fetched yet (or expired).
    Unknown,
    /// A fetch is in flight.
    Fetching,
    /// Parsed rules, valid until `expires`.
    Ready {
        /// The rules.
        robots: Arc<Robots>,
        /// When to fetch again.
        expires: Instant,
    },
    /// The last fetch failed (5xx, network); retry at `retry_at`.
    Unavailable {
        /// When to try again.
        retry_at: Instant,
    },
}

/// Politeness state of one host.
#[derive(Debug)]
pub struct HostState {
    /// Earliest time the next request may start.
    pub next_allowed: Instant,
    /// Requests in flight.
    pub in_flight: usize,
    /// Queue sequence numbers fetched or awaiting commit; skipped when picking the next URL.
    pub taken: HashSet<u64>,
    /// robots.txt state.
    pub robots: RobotsState,
    /// Delay between request starts: the larger of `min_delay` and the adaptive part.
    pub delay: Duration,
    /// The configured minimum, raised by robots.txt `Crawl-delay`.
    pub min_delay: Duration,
    /// robots.txt fetches that failed in a row.
    pub robots_failures: u32,
    /// Back-off imposed by 429/503 answers without `Retry-After`; it decays on success.
    pub penalty: Duration,
    /// The address the host was last reached at (unknown before its first answer).
    pub ip: Option<IpAddr>,
    scheduled: bool,
}

/// Politeness state of one IP address, shared by the hosts served from it.
#[derive(Debug)]
struct IpState {
    next_allowed: Instant,
    in_flight: usize,
}

/// Least back-off after a 429/503 without `Retry-After`, even for hosts crawled with no delay.
const MIN_BACKOFF: Duration = Duration::from_secs(1);

/// The hosts of a crawl and when each may be contacted next.
#[derive(Debug, Default)]
pub struct Hosts {
    states: HashMap<String, HostState>,
    ips: HashMap<IpAddr, IpState>,
    heap: BinaryHeap<Reverse<(Instant, String)>>,
}

impl HostState {
    /// Adapts the delay after an answer that was not a "slow down": `factor` ×
    /// `response_time`, never below `min_delay`, so a slow server gets proportionally
    /// fewer requests. A back-off from earlier 429/503 answers halves with each success
    /// (1 s is gone after seven).
    pub fn adapt(&mut self, response_time: Duration, factor: f64) {
        self.penalty /= 2;
        if self.penalty <= self.min_delay.max(Duration::from_millis(10)) {
            self.penalty = Duration::ZERO;
        }
        let adaptive = response_time.mul_f64(factor.max(0.0));
        self.delay = self.min_delay.max(adaptive).max(self.penalty);
    }

    /// A 429 or 503 without `Retry-After`: the delay doubles (at least [`MIN_BACKOFF`]),
    /// up to `cap`.
    pub fn back_off(&mut self, cap: Duration) {
        self.penalty = (self.delay * 2)
            .max(MIN_BACKOFF)
            .min(cap.max(self.min_delay));
        self.delay = self.delay.max(self.penalty);
    }
}

impl Hosts {
    /// No hosts.
    pub fn new() -> Hosts {
        Hosts::default()
    }

    /// The state of `host`, created with `delay` if new.
    pub fn state(&mut self, host: &str, delay: Duration) -> &mut HostState {
        self.states
            .entry(host.to_string())
            .or_insert_with(|| HostState {
                next_allowed: Instant::now(),
                in_flight: 0,
                taken: HashSet::new(),
                robots: RobotsState::Unknown,
                delay,
                min_delay: delay,
                robots_failures: 0,
                penalty: Duration::ZERO,
                ip: None,
                scheduled: false,
            })
    }

    /// When `host`'s IP address (if known) is busy: at its connection limit or within its
    /// delay, the time to look again. `None` when a request may start now.
    pub fn ip_busy_until(
        &self,
        host: &str,
        now: Instant,
        max_connections: usize,
        delay: Duration,
    ) -> Option<Instant> {
        let ip = self.states.get(host)?.ip?;
        let state = self.ips.get(&ip)?;
        if state.in_flight >= max_connections {
            // Woken when the next request to this address could start at the earliest.
            Some(now + delay.max(Duration::from_millis(5)))
        } else if state.next_allowed > now {
            Some(state.next_allowed)
        } else {
            None
        }
    }

    /// A request to `host` starts now: it takes one of the host's connections, the host's
    /// next request waits the host's delay, and the request is counted against the host's
    /// IP address (when known), which is returned for [`Hosts::fetch_finished`].
    pub fn fetch_started(
        &mut self,
        host: &str,
        now: Instant,
        base_delay: Duration,
        ip_delay: Duration,
    ) -> Option<IpAddr> {
        let state = self.state(host, base_delay);
        state.in_flight += 1;
        state.next_allowed = now + state.delay;
        self.ip_started(host, now, ip_delay)
    }

    /// A request started by [`Hosts::fetch_started`] ended now: its connection and its IP
    /// slot are free, `reached` (the address that answered, if any) is remembered, and the
    /// host's next request waits its current delay from now (call this after adapting the
    /// delay to the answer).
    pub fn fetch_finished(
        &mut self,
        host: &str,
        counted: Option<IpAddr>,
        reached: Option<IpAddr>,
        base_delay: Duration,
        ip_delay: Duration,
    ) {
        self.ip_finished(counted, ip_delay);
        let state = self.state(host, base_delay);
        if reached.is_some() {
            state.ip = reached;
        }
        state.in_flight = state.in_flight.saturating_sub(1);
        state.next_allowed = state.next_allowed.max(Instant::now() + state.delay);
    }

    /// A request to `host` starts now; returns the IP address it is counted against.
    fn ip_started(&mut self, host: &str, now: Instant, delay: Duration) -> Option<IpAddr> {
        let ip = self.states.get(host)?.ip?;
        let state = self.ips.entry(ip).or_insert(IpState {
            next_allowed: now,
            in_flight: 0,
        });
        state.in_flight += 1;
        state.next_allowed = state.next_allowed.max(now + delay);
        Some(ip)
    }

    /// A request counted against `ip` by [`Hosts::ip_started`] ended now. The next request
    /// to the address waits `delay` from now too: a request that reached the server late
    /// (a slow connect, a busy client) must not be followed by one right behind it.
    fn ip_finished(&mut self, ip: Option<IpAddr>, delay: Duration) {
        if let Some(state) = ip.and_then(|ip| self.ips.get_mut(&ip)) {
            state.in_flight = state.in_flight.saturating_sub(1);
            state.next_allowed = state.next_allowed.max(Instant::now() + delay);
        }
    }

    /// Puts `host` on the schedule at its next allowed time (no-op if already there).
    pub fn schedule(&mut self, host: &str, delay: Duration) {
        let state = self.state(host, delay);
        if state.scheduled {
            return;
        }
        state.scheduled = true;
        let at = state.next_allowed;
        self.heap.push(Reverse((at, host.to_string())));
    }

    /// Takes the host whose time has come, if any.
    pub fn pop_ready(&mut self, now: Instant) -> Option<String> {
        let Reverse((at, _)) = self.heap.peek()?;
        if *at > now {
            return None;
        }
        let Reverse((_, host)) = self.heap.pop()?;
        if let Some(state) = self.states.get_mut(&host) {
            state.scheduled = false;
        }
        Some(host)
    }

    /// When the next scheduled host becomes ready.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Whether no host is scheduled.
    pub fn is_idle(&self) -> bool {
        self.heap.is_empty()
    }

    /// Forgets the `taken` marks of committed entries.
    pub fn release(&mut self, host: &str, seq: u64) {
        if let Some(state) = self.states.get_mut(host) {
            state.taken.remove(&seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_follows_response_time_above_the_minimum() {
        let mut hosts = Hosts::new();
        let state = hosts.state("a", Duration::from_millis(100));
        state.adapt(Duration::from_millis(200), 2.0);
        assert_eq!(state.delay, Duration::from_millis(400));
        state.adapt(Duration::from_millis(10), 2.0);
        assert_eq!(state.delay, Duration::from_millis(100));
        state.adapt(Duration::from_secs(1), 0.0);
        assert_eq!(state.delay, Duration::from_millis(100));
    }

    #[test]
    fn slow_down_answers_double_the_delay_and_success_wins_it_back() {
        let mut hosts = Hosts::new();
        let state = hosts.state("a", Duration::from_millis(100));
        state.back_off(Duration::from_secs(5));
        assert_eq!(state.delay, Duration::from_secs(1));
        state.back_off(Duration::from_secs(5));
        state.back_off(Duration::from_secs(5));
        assert_eq!(state.delay, Duration::from_secs(4));
        state.back_off(Duration::from_secs(5));
        assert_eq!(state.delay, Duration::from_secs(5), "capped");
        let mut steps = Vec::new();
        while state.delay > Duration::from_millis(100) {
            state.adapt(Duration::from_millis(1), 1.0);
            steps.push(state.delay.as_millis());
        }
        assert_eq!(steps, vec![2500, 1250, 625, 312, 156, 100]);
    }

    #[test]
    fn hosts_on_one_address_share_its_limits() {
        let mut hosts = Hosts::new();
        let now = Instant::now();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for host in ["a:80", "b:80"] {
            hosts.state(host, Duration::ZERO).ip = Some(ip);
        }
        let delay = Duration::from_millis(100);
        assert_eq!(hosts.ip_busy_until("a:80", now, 2, delay), None);
        assert_eq!(hosts.ip_started("a:80", now, delay), Some(ip));
        // b is another host name on the same address: it waits for the address's delay.
        assert_eq!(
            hosts.ip_busy_until("b:80", now, 2, delay),
            Some(now + delay)
        );
        let later = now + delay;
        assert_eq!(hosts.ip_busy_until("b:80", later, 2, delay), None);
        hosts.ip_started("b:80", later, delay);
        // Two connections in flight: full, whatever the delay.
        assert!(
            hosts
                .ip_busy_until("a:80", later + delay * 5, 2, delay)
                .is_some()
        );
        hosts.ip_finished(Some(ip), delay);
        assert_eq!(
            hosts.ip_busy_until("a:80", Instant::now() + delay * 5, 2, delay),
            None
        );
        // A host whose address is unknown is not held back.
        assert_eq!(hosts.ip_busy_until("c:80", now, 2, delay), None);
    }

    #[test]
    fn hosts_come_out_in_time_order_once() {
        let mut hosts = Hosts::new();
        let now = Instant::now();
        hosts.state("b", Duration::ZERO).next_allowed = now + Duration::from_secs(5);
        hosts.schedule("b", Duration::ZERO);
        hosts.schedule("a", Duration::ZERO);
        hosts.schedule("a", Duration::ZERO);
        assert_eq!(
            hosts.pop_ready(now + Duration::from_millis(1)),
            Some("a".to_string())
        );
        assert_eq!(hosts.pop_ready(now + Duration::from_millis(1)), None);
        assert_eq!(hosts.next_wakeup(), Some(now + Duration::from_secs(5)));
        assert_eq!(
            hosts.pop_ready(now + Duration::from_secs(5)),
            Some("b".to_string())
        );
        assert!(hosts.is_idle());
    }
}
