//! Per-host politeness: at most N requests in flight per host, and a minimum delay between
//! request starts (the larger of the configured minimum and robots.txt `Crawl-delay`).
//!
//! Only hosts with work are scheduled; the schedule is a min-heap of "next allowed" times.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
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
    scheduled: bool,
}

/// The hosts of a crawl and when each may be contacted next.
#[derive(Debug, Default)]
pub struct Hosts {
    states: HashMap<String, HostState>,
    heap: BinaryHeap<Reverse<(Instant, String)>>,
}

impl HostState {
    /// Adapts the delay to how long the host took to answer: `factor` × `response_time`,
    /// never below `min_delay`. A slow server gets proportionally fewer requests.
    pub fn adapt(&mut self, response_time: Duration, factor: f64) {
        let adaptive = response_time.mul_f64(factor.max(0.0));
        self.delay = self.min_delay.max(adaptive);
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
                scheduled: false,
            })
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
