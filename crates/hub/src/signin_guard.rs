//! Failed sign-ins counted per username, and a username locked for a while after too many.
//!
//! The national medical-information-system safety guideline (MHLW 第6.0版, システム運用編 §14,
//! 利用者の識別及び認証) asks that repeated wrong passwords be limited. A wall's password
//! tried again and again from a browser is also CPU: each try is an argon2id hash, on a hub
//! with two cores that ingest and analyse every stream. So after [`GuardConfig::max_failures`]
//! failures within [`GuardConfig::window_ms`] a username is locked for
//! [`GuardConfig::lock_ms`]: its attempts are refused without a hash until then, whether or not
//! the username exists (so a lock says nothing about which usernames do).
//!
//! A lock on an existing account is also kept in the database by [`crate::accounts`], so a
//! restart does not lift it ([`SigninGuard::restore_lock`] at start) and an unlock from another
//! process (`mimamori user unlock`) is seen; failures short of a lock, and unknown usernames,
//! live here only.
//!
//! Sans-IO: time comes in as milliseconds; nothing here reads a clock. Memory is bounded: at
//! most [`GuardConfig::max_tracked`] usernames are followed; when that many are, those whose
//! window and lock have passed go first, then the longest-followed ones.

use std::collections::HashMap;

/// How many failures lock a username, for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardConfig {
    /// Failures within the window that lock the username.
    pub max_failures: u32,
    /// The window the failures are counted in, from the first.
    pub window_ms: i64,
    /// How long a locked username stays locked.
    pub lock_ms: i64,
    /// Usernames followed at most.
    pub max_tracked: usize,
}

impl Default for GuardConfig {
    /// Five failures in 15 minutes lock the username for 15 minutes; 10,000 usernames followed.
    fn default() -> Self {
        Self {
            max_failures: 5,
            window_ms: 15 * 60_000,
            lock_ms: 15 * 60_000,
            max_tracked: 10_000,
        }
    }
}

/// Whether a sign-in may be tried now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password.
    Try,
    /// Refuse without checking: the username is locked until then (ms).
    Locked {
        /// When the lock ends (ms, the caller's clock).
        until_ms: i64,
    },
}

/// What a failure came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Counted; this many more failures in the window lock the username.
    Counted {
        /// Failures left before the lock.
        left: u32,
    },
    /// This failure locked the username (tell it once: the audit log's `login_locked`).
    LockedNow {
        /// When the lock ends.
        until_ms: i64,
    },
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    first_ms: i64,
    locked_until_ms: Option<i64>,
}

impl Failures {
    /// Whether nothing about it matters any more at `now_ms`.
    fn spent(&self, now_ms: i64, config: &GuardConfig) -> bool {
        match self.locked_until_ms {
            Some(until) => now_ms >= until,
            None => now_ms - self.first_ms >= config.window_ms,
        }
    }
}

/// Usernames' recent failures.
#[derive(Debug, Default)]
pub struct SigninGuard {
    config: GuardConfig,
    failures: HashMap<String, Failures>,
    refused_while_locked: u64,
}

/// The longest username followed as given; longer ones are followed by their first bytes (no
/// account has a username longer than 64).
const MAX_KEY: usize = 80;

fn key(username: &str) -> &str {
    if username.len() <= MAX_KEY {
        return username;
    }
    let mut cut = MAX_KEY;
    while !username.is_char_boundary(cut) {
        cut -= 1;
    }
    &username[..cut]
}

impl SigninGuard {
    /// A guard with `config`.
    pub fn new(config: GuardConfig) -> Self {
        Self {
            config,
            failures: HashMap::new(),
            refused_while_locked: 0,
        }
    }

    /// Whether `username` may try a password at `now_ms`.
    pub fn check(&mut self, username: &str, now_ms: i64) -> Verdict {
        let key = key(username);
        match self.failures.get(key) {
            Some(f) if f.spent(now_ms, &self.config) => {
                self.failures.remove(key);
                Verdict::Try
            }
            Some(Failures {
                locked_until_ms: Some(until_ms),
                ..
            }) => {
                self.refused_while_locked += 1;
                Verdict::Locked {
                    until_ms: *until_ms,
                }
            }
            _ => Verdict::Try,
        }
    }

    /// Counts a wrong password (or an unknown username) for `username` at `now_ms`.
    pub fn failed(&mut self, username: &str, now_ms: i64) -> AfterFailure {
        let key = key(username);
        if !self.failures.contains_key(key) {
            self.make_room(now_ms);
        }
        let config = self.config;
        let entry = self.failures.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            first_ms: now_ms,
            locked_until_ms: None,
        });
        if entry.spent(now_ms, &config) {
            *entry = Failures {
                count: 0,
                first_ms: now_ms,
                locked_until_ms: None,
            };
        }
        if entry.locked_until_ms.is_some() {
            // Checked while unlocked, failed once the lock had begun (two tries at once): the
            // lock stands as it is.
            return AfterFailure::Counted { left: 0 };
        }
        entry.count += 1;
        if entry.count >= config.max_failures {
            let until_ms = now_ms + config.lock_ms;
            entry.locked_until_ms = Some(until_ms);
            AfterFailure::LockedNow { until_ms }
        } else {
            AfterFailure::Counted {
                left: config.max_failures - entry.count,
            }
        }
    }

    /// A lock kept elsewhere (the database, from before a restart) taken up again: `username`
    /// is locked until `until_ms`, as if its failures had just locked it. Nothing if that time
    /// has passed at `now_ms`.
    pub fn restore_lock(&mut self, username: &str, until_ms: i64, now_ms: i64) {
        if until_ms <= now_ms {
            return;
        }
        let key = key(username);
        if !self.failures.contains_key(key) {
            self.make_room(now_ms);
        }
        self.failures.insert(
            key.to_owned(),
            Failures {
                count: self.config.max_failures,
                first_ms: until_ms - self.config.lock_ms,
                locked_until_ms: Some(until_ms),
            },
        );
    }

    /// A right password: the username's failures are forgotten.
    pub fn succeeded(&mut self, username: &str) {
        self.failures.remove(key(username));
    }

    /// An administrator's unlock: the username's failures and lock are forgotten. Whether it
    /// was locked at `now_ms`.
    pub fn unlock(&mut self, username: &str, now_ms: i64) -> bool {
        let config = self.config;
        self.failures
            .remove(key(username))
            .is_some_and(|f| f.locked_until_ms.is_some() && !f.spent(now_ms, &config))
    }

    /// Usernames followed now.
    pub fn tracked(&self) -> usize {
        self.failures.len()
    }

    /// Attempts refused because their username was locked, since the start.
    pub fn refused_while_locked(&self) -> u64 {
        self.refused_while_locked
    }

    /// Makes room for one more username: drops what has passed, then, if still full, the
    /// longest-followed usernames that are not locked, then the longest-followed at all.
    fn make_room(&mut self, now_ms: i64) {
        if self.failures.len() < self.config.max_tracked {
            return;
        }
        let config = self.config;
        self.failures.retain(|_, f| !f.spent(now_ms, &config));
        while self.failures.len() >= self.config.max_tracked.max(1) {
            let oldest = self
                .failures
                .iter()
                .min_by_key(|(_, f)| (f.locked_until_ms.is_some(), f.first_ms))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.failures.remove(&k);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn guard() -> SigninGuard {
        SigninGuard::new(GuardConfig::default())
    }

    #[test]
    fn five_failures_lock_the_username_for_fifteen_minutes_and_then_it_may_try_again() {
        let mut g = guard();
        for n in 0..4 {
            assert_eq!(g.check("mw-a", n * MIN), Verdict::Try);
            assert_eq!(
                g.failed("mw-a", n * MIN),
                AfterFailure::Counted { left: 4 - n as u32 }
            );
        }
        assert_eq!(g.check("mw-a", 4 * MIN), Verdict::Try);
        assert_eq!(
            g.failed("mw-a", 4 * MIN),
            AfterFailure::LockedNow { until_ms: 19 * MIN }
        );
        // Locked: refused without a check, whatever the password would have been.
        assert_eq!(
            g.check("mw-a", 10 * MIN),
            Verdict::Locked { until_ms: 19 * MIN }
        );
        assert_eq!(
            g.check("mw-a", 19 * MIN - 1),
            Verdict::Locked { until_ms: 19 * MIN }
        );
        assert_eq!(g.refused_while_locked(), 2);
        // An administrator's unlock lifts it at once.
        let mut unlocked = guard();
        for _ in 0..5 {
            unlocked.failed("mw-a", 0);
        }
        assert!(unlocked.unlock("mw-a", MIN));
        assert_eq!(unlocked.check("mw-a", MIN), Verdict::Try);
        assert!(!unlocked.unlock("mw-a", MIN), "nothing left to unlock");
        // Another username is not touched.
        assert_eq!(g.check("ob-c", 10 * MIN), Verdict::Try);
        // The lock ends, and the count starts again from nothing.
        assert_eq!(g.check("mw-a", 19 * MIN), Verdict::Try);
        assert_eq!(
            g.failed("mw-a", 19 * MIN),
            AfterFailure::Counted { left: 4 }
        );
    }

    #[test]
    fn failures_spread_wider_than_the_window_do_not_lock() {
        let mut g = guard();
        for n in 0..20 {
            // One failure every 4 minutes: at most 4 in any 15 minutes from the first.
            let now = n * 4 * MIN;
            assert_eq!(g.check("mw-a", now), Verdict::Try, "try {n}");
            assert!(matches!(
                g.failed("mw-a", now),
                AfterFailure::Counted { .. }
            ));
        }
    }

    #[test]
    fn a_right_password_forgets_the_failures_before_it() {
        let mut g = guard();
        for _ in 0..4 {
            g.failed("mw-a", 0);
        }
        g.succeeded("mw-a");
        assert_eq!(g.failed("mw-a", MIN), AfterFailure::Counted { left: 4 });
        assert_eq!(g.tracked(), 1);
    }

    #[test]
    fn a_failure_that_lands_during_a_lock_does_not_lengthen_it() {
        let mut g = guard();
        for _ in 0..5 {
            g.failed("mw-a", 0);
        }
        // Two tries checked before the lock, the second failing after it began.
        assert_eq!(g.failed("mw-a", MIN), AfterFailure::Counted { left: 0 });
        assert_eq!(
            g.check("mw-a", 2 * MIN),
            Verdict::Locked { until_ms: 15 * MIN }
        );
    }

    #[test]
    fn a_flood_of_usernames_is_held_to_the_bound_and_keeps_the_locks() {
        let mut g = SigninGuard::new(GuardConfig {
            max_tracked: 100,
            ..GuardConfig::default()
        });
        for _ in 0..5 {
            g.failed("mw-a", 0);
        }
        for n in 0..10_000 {
            g.failed(&format!("guess-{n}"), 1 + n / 100);
            assert!(g.tracked() <= 100);
        }
        // Unlocked usernames went first: the locked one is still locked.
        assert!(matches!(g.check("mw-a", MIN), Verdict::Locked { .. }));
        // Usernames longer than any account's are followed by their first bytes.
        let long = "x".repeat(10_000);
        for _ in 0..5 {
            g.failed(&long, 0);
        }
        assert!(matches!(g.check(&long, 0), Verdict::Locked { .. }));
        assert!(g.failures.keys().all(|k| k.len() <= MAX_KEY));
    }
}
