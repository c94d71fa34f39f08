//! What the event consumers ([`RingBuffer`](crate::RingBuffer),
//! [`PerfBuffer`](crate::PerfBuffer)) share: an epoll set over their rings, waits in
//! whole milliseconds, and the "poll until a deadline" loop.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use crate::sys::{self, SysError};

/// An epoll set with room for one event per registered descriptor.
pub(crate) struct EpollSet {
    epoll: Epoll,
    events: Vec<EpollEvent>,
    /// How many of `events` the last wait filled.
    ready: usize,
}

impl EpollSet {
    /// A new, empty set.
    pub(crate) fn new() -> Result<EpollSet, SysError> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map_err(|e| SysError::new("epoll_create1", e as i32))?;
        Ok(EpollSet {
            epoll,
            events: Vec::new(),
            ready: 0,
        })
    }

    /// Registers `fd` for `flags`; a wait reports it with `token`.
    pub(crate) fn add(
        &mut self,
        fd: BorrowedFd<'_>,
        flags: EpollFlags,
        token: u64,
    ) -> Result<(), SysError> {
        self.epoll
            .add(fd, EpollEvent::new(flags, token))
            .map_err(|e| SysError::new("epoll_ctl", e as i32))?;
        self.events.push(EpollEvent::empty());
        Ok(())
    }

    /// Waits up to `timeout` (forever when `None`), rounded up to whole milliseconds,
    /// for registered descriptors to be ready; how many are (0 on timeout or when a
    /// signal interrupted the wait).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> Result<usize, SysError> {
        self.ready = 0;
        self.ready = sys::epoll_wait(&self.epoll, &mut self.events, timeout.map(round_up_to_ms))?;
        Ok(self.ready)
    }

    /// The token of the `k`-th descriptor the last wait found ready.
    fn token(&self, k: usize) -> usize {
        self.events[..self.ready]
            .get(k)
            .map_or(usize::MAX, |e| e.data() as usize)
    }

    /// The rings a pass takes, as indices into `0..rings`: those the last wait found
    /// ready when `ready_only` and it found any (what libbpf's poll does: on a machine
    /// of many CPUs most rings are idle), else every one.
    pub(crate) fn pass_order(&self, ready_only: bool, rings: usize) -> PassOrder<'_> {
        let ready = if ready_only { self.ready } else { 0 };
        PassOrder {
            set: self,
            next: 0,
            count: if ready > 0 { ready } else { rings },
            ready: ready > 0,
        }
    }

    /// The epoll descriptor.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }
}

/// The ring indices of one pass ([`EpollSet::pass_order`]).
pub(crate) struct PassOrder<'a> {
    set: &'a EpollSet,
    next: usize,
    count: usize,
    ready: bool,
}

impl Iterator for PassOrder<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.next == self.count {
            return None;
        }
        let k = self.next;
        self.next += 1;
        Some(if self.ready { self.set.token(k) } else { k })
    }
}

/// `timeout` rounded up to whole milliseconds, epoll's unit, so that a wait never ends
/// before it (a sub-millisecond rest would otherwise spin with 0 ms waits).
pub(crate) fn round_up_to_ms(timeout: Duration) -> Duration {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// `duration` from now; a duration too long to add to the clock waits as long as the
/// clock can say.
pub(crate) fn deadline_after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(u64::from(u32::MAX)))
}

/// What one pass over a consumer's rings did: records handed to callbacks, and the
/// code a callback stopped with, if one did.
pub(crate) struct Pass {
    pub(crate) records: usize,
    pub(crate) stopped: Option<i32>,
}

/// A consumer that can wait for data and then take what is there.
pub(crate) trait Consumer {
    type Error;

    /// Waits up to `timeout` for data; whether any ring has some.
    fn wait_ready(&mut self, timeout: Option<Duration>) -> Result<bool, Self::Error>;

    /// Takes what is committed in the rings the last wait found ready, or in all of
    /// them when it found none (a deadline already past).
    fn pass(&mut self) -> Result<Pass, Self::Error>;
}

/// Polls `consumer` until `deadline`, consuming records as they come; returns how many.
/// Returns early when a callback asks to stop. A deadline already past still consumes
/// what is there, without waiting.
pub(crate) fn poll_until<C: Consumer>(
    consumer: &mut C,
    deadline: Instant,
) -> Result<usize, C::Error> {
    let mut total = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if consumer.wait_ready(Some(left))? || left.is_zero() {
            let pass = consumer.pass()?;
            total += pass.records;
            if pass.stopped.is_some() {
                return Ok(total);
            }
        }
        if left.is_zero() {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pass after a wait takes the descriptors found ready, in the order reported;
    /// after a timeout, or when asked for all, it takes every one.
    #[test]
    fn a_pass_takes_the_ready_rings() {
        let pipes: Vec<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> =
            (0..3).map(|_| nix::unistd::pipe().unwrap()).collect();
        let mut set = EpollSet::new().unwrap();
        for (i, (read, _)) in pipes.iter().enumerate() {
            set.add(read.as_fd(), EpollFlags::EPOLLIN, i as u64)
                .unwrap();
        }
        assert_eq!(set.wait(Some(Duration::ZERO)).unwrap(), 0);
        let all: Vec<usize> = set.pass_order(true, 3).collect();
        assert_eq!(all, [0, 1, 2], "nothing ready: every ring");
        nix::unistd::write(&pipes[2].1, b"x").unwrap();
        assert_eq!(set.wait(Some(Duration::ZERO)).unwrap(), 1);
        assert_eq!(set.pass_order(true, 3).collect::<Vec<_>>(), [2]);
        assert_eq!(set.pass_order(false, 3).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(round_up_to_ms(Duration::ZERO), Duration::ZERO);
        assert_eq!(
            round_up_to_ms(Duration::from_nanos(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            round_up_to_ms(Duration::from_micros(1500)),
            Duration::from_millis(2)
        );
        assert_eq!(
            round_up_to_ms(Duration::from_millis(7)),
            Duration::from_millis(7)
        );
        assert_eq!(
            round_up_to_ms(Duration::from_secs(u64::MAX)),
            Duration::from_millis(u64::MAX)
        );
    }

    #[test]
    fn deadlines_saturate() {
        let far = deadline_after(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(1 << 31));
    }
}
