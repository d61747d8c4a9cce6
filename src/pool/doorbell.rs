//! Waking reader threads only as queued work needs. Readers take jobs from their channel without
//! ever blocking on it, so a job sent there wakes nobody by itself (a blocked receiver would cost
//! the sending thread — the JavaScript thread — a futex wake per call while readers come and go).
//! Instead a reader that finds the queue empty spins briefly (if no other reader is looking for
//! work already), then parks on this bell, which a submitter rings only when no reader is looking
//! for work and fewer readers than the machine has cores to spare are running short jobs.
//!
//! That cap is what keeps six readers from costing throughput on two cores: a reader running
//! point reads takes the jobs queued behind its own, so one more woken reader would only take a
//! core from the JavaScript thread, which is what a burst waits on. A job never waits behind a
//! long one, though: a reader whose job has run longer than [`HAND_OFF`] no longer counts against
//! the cap, which a submitter sees by the job's start time; a job held for a running reader is
//! looked at again by the watch (`watch`, a thread of its own) once HAND_OFF has passed, so it is
//! rung for even when the runner's job then stalls (inside one SQLite opcode, in a busy handler);
//! a reader serving an iteration does not count at all while it waits for its consumer.
//!
//! No wake-up is lost: a reader announces that it parks (`idle` - 1) and then looks at the queue
//! once more before parking; a submitter queues its job and then reads `idle`. With a SeqCst
//! fence on both sides, either the reader sees the job or the submitter sees no reader idle and
//! rings unless a running reader will take the job: one that counts against the cap goes back to
//! the queue when its job ends, and the watch rings if it has not within HAND_OFF (the bell keeps
//! up to one token per reader, so a ring never blocks and never vanishes while a reader may still
//! park).

use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, RecvTimeoutError, Sender};

/// How long a thread that found its queue empty keeps looking before it parks: long enough for
/// the next call of a burst to arrive (the JavaScript thread submits one every 3–4 µs), short
/// enough to cost little when none comes: on two cores a spinner takes CPU from the JavaScript
/// thread and the writer (W3 ran 129–135k ops/s at 5 µs against 115–124k at 20 µs and 85–98k at
/// 300 µs, bench/FINDINGS.md). It never yields meanwhile: a yield can hand the core to a
/// low-priority worker for a whole scheduler slice, milliseconds, while a read waits.
const SPIN_FOR: Duration = Duration::from_micros(5);

/// How long a reader's job may run before queued work stops waiting for it and wakes another
/// reader: a point read takes a few microseconds and a batch of them a few hundred, so only
/// scans, long aggregates and stalls pass it.
pub const HAND_OFF: Duration = Duration::from_micros(500);

/// A reader's `since`: not running a job.
const RESTING: u64 = 0;
/// A reader's `since`: serving an iteration, so not taking queued work soon.
const AWAY: u64 = 1;
/// Start times are stored offset by this, past the two marks above.
const OFFSET: u64 = 2;

/// Waits briefly for `has_work` to turn true; whether it did. A thread that spins so before it
/// blocks on its queue is usually still awake when the next job of a burst arrives, so the
/// sender need not wake it.
pub fn spin(has_work: impl Fn() -> bool) -> bool {
    let started = Instant::now();
    loop {
        for _ in 0..16 {
            if has_work() {
                return true;
            }
            std::hint::spin_loop();
        }
        if started.elapsed() >= SPIN_FOR {
            return has_work();
        }
    }
}

/// The readers that may run short jobs at once on this machine: one core is left to the thread
/// that submits (the JavaScript thread), at least one reader, at most all of them.
pub fn running_cap(readers: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).clamp(1, readers.max(1))
}

pub struct Doorbell {
    /// Readers looking for work: spinning or about to look at the queue (neither parked nor
    /// running a job).
    idle: AtomicUsize,
    ring: Sender<()>,
    bell: Receiver<()>,
    /// Rings not yet answered: readers being woken count against the cap like running ones,
    /// or every job queued while the first wakes up would ring for another.
    waking: AtomicUsize,
    /// Readers that may run short jobs before a submitter wakes another.
    cap: usize,
    epoch: Instant,
    /// Per reader: RESTING, AWAY, or when its current job started (µs after `epoch` + OFFSET).
    since: Box<[AtomicU64]>,
    /// A submitter left a job to a reader running a short job: the watch (`watch`) looks again
    /// once HAND_OFF has passed. One token at most, so a hold wakes the watch once however many
    /// jobs are queued meanwhile.
    hold: Sender<()>,
    held: Receiver<()>,
}

impl Doorbell {
    /// A bell for `readers` threads, all counted idle until they first take a job or park, of
    /// which `cap` may run short jobs at once.
    pub fn new(readers: usize, cap: usize) -> Doorbell {
        let (ring, bell) = bounded(readers.max(1));
        let (hold, held) = bounded(1);
        Doorbell {
            idle: AtomicUsize::new(readers),
            ring,
            bell,
            waking: AtomicUsize::new(0),
            cap: cap.max(1),
            epoch: Instant::now(),
            since: (0..readers).map(|_| AtomicU64::new(RESTING)).collect(),
            hold,
            held,
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64 + OFFSET
    }

    /// Readers running a job that started less than HAND_OFF ago, counted up to the cap.
    fn running_short(&self) -> usize {
        let now = self.now();
        let limit = HAND_OFF.as_micros() as u64;
        let mut short = 0;
        for since in self.since.iter() {
            let at = since.load(SeqCst);
            if at >= OFFSET && now.saturating_sub(at) < limit {
                short += 1;
                if short >= self.cap {
                    break;
                }
            }
        }
        short
    }

    /// After a job was queued (by a submitter, or left in the queue by a reader that took
    /// others): wakes a reader if none is looking for work and fewer than the cap run short jobs
    /// or are being woken.
    pub fn queued(&self) {
        fence(SeqCst);
        if self.idle.load(SeqCst) != 0 {
            return;
        }
        let waking = self.waking.load(SeqCst);
        let short = self.running_short();
        if waking + short >= self.cap {
            if short > 0 {
                let _ = self.hold.try_send(());
            }
            return;
        }
        // One ring per free place: a submitter that loses this race leaves the job to the reader
        // the winner wakes.
        if self.waking.compare_exchange(waking, waking + 1, SeqCst, SeqCst).is_ok() && self.ring.try_send(()).is_err() {
            self.waking.fetch_sub(1, SeqCst);
        }
    }

    /// Runs until `closing` disconnects: each time a submitter leaves a job to a reader running
    /// a short job, waits HAND_OFF and, if work is still queued (`has_work`), calls `queued`
    /// again, which rings now that the runner's job is past HAND_OFF (or holds again if it moved
    /// on to another short job). Blocked while nothing is held, so an idle pool costs nothing.
    pub fn watch(&self, has_work: impl Fn() -> bool, closing: &Receiver<()>) {
        loop {
            select! {
                recv(self.held) -> _ => {},
                recv(closing) -> _ => return,
            }
            if let Err(RecvTimeoutError::Disconnected) = closing.recv_timeout(HAND_OFF) {
                return;
            }
            if has_work() {
                self.queued();
            }
        }
    }

    /// A parked reader took a ring from the bell.
    pub fn answered(&self) {
        let _ = self.waking.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
    }

    /// Reader `index` took a job: busy until `looking`. It must then look at the queue once
    /// more and call `queued` if jobs remain: a submitter that queued one just before counted
    /// this reader as idle and did not ring.
    pub fn taking(&self, index: usize) {
        self.idle.fetch_sub(1, SeqCst);
        self.started(index);
        fence(SeqCst);
    }

    /// Reader `index` starts another job (of a batch, or after an iteration).
    pub fn started(&self, index: usize) {
        if let Some(since) = self.since.get(index) {
            since.store(self.now(), SeqCst);
        }
    }

    /// Reader `index` will not come back to the queue soon (it serves an iteration): it stops
    /// counting against the cap. The caller then calls `queued` if jobs are waiting.
    pub fn away(&self, index: usize) {
        if let Some(since) = self.since.get(index) {
            since.store(AWAY, SeqCst);
        }
        fence(SeqCst);
    }

    /// Reader `index` is looking for work again.
    pub fn looking(&self, index: usize) {
        if let Some(since) = self.since.get(index) {
            since.store(RESTING, SeqCst);
        }
        self.idle.fetch_add(1, SeqCst);
    }

    /// Whether a reader that found the queue empty should spin before it parks: only when no
    /// other reader is looking for work. One spinner catches the next call of a burst; more
    /// would only take the cores from the JavaScript thread, the writer and the workers.
    pub fn may_spin(&self) -> bool {
        self.idle.load(SeqCst) <= 1
    }

    /// The reader is about to park: counted so from now on. Then it must look at the queue once
    /// more (and call `looking` instead of parking if there is work, or after it woke).
    pub fn parking(&self) {
        self.idle.fetch_sub(1, SeqCst);
        fence(SeqCst);
    }

    /// What a parked reader waits on (with its pings and the pool's closing signal).
    pub fn bell(&self) -> &Receiver<()> {
        &self.bell
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Whether the bell holds a ring, taken as a parked reader takes it.
    fn rung(d: &Doorbell) -> bool {
        let rung = d.bell().try_recv().is_ok();
        if rung {
            d.answered();
        }
        rung
    }

    #[test]
    fn a_submitter_rings_only_when_no_reader_is_looking_for_work() {
        let d = Doorbell::new(2, 2);
        d.queued();
        assert!(!rung(&d), "two readers looking: no ring");
        d.parking();
        d.queued();
        assert!(!rung(&d), "one still looking: no ring");
        d.taking(0);
        d.queued();
        assert!(rung(&d), "one parked, one running a job: rung");
        d.looking(0);
        d.queued();
        assert!(!rung(&d), "the busy one looks again: no ring");
        d.parking();
        d.queued();
        d.queued();
        d.queued();
        assert_eq!(d.bell().try_iter().count(), 2, "both parked: a ring per reader at most");
    }

    #[test]
    fn jobs_queued_while_a_reader_wakes_ring_no_more_readers_than_the_cap() {
        let d = Doorbell::new(6, 1);
        for _ in 0..6 {
            d.parking();
        }
        for _ in 0..100 {
            d.queued();
        }
        assert_eq!(d.bell().try_iter().count(), 1, "one reader woken for a burst");
        d.answered();
        d.queued();
        assert!(rung(&d), "answered, still resting: the next job rings again");
    }

    #[test]
    fn readers_running_short_jobs_up_to_the_cap_take_queued_work_without_a_ring() {
        let d = Doorbell::new(3, 1);
        d.parking();
        d.parking();
        d.taking(0);
        d.queued();
        assert!(!rung(&d), "one short job running, cap 1: no ring");
        d.away(0);
        d.queued();
        assert!(rung(&d), "the runner serves an iteration: rung");
        d.started(0);
        d.queued();
        assert!(!rung(&d), "a short job again: no ring");
        d.looking(0);
        d.parking();
        d.queued();
        assert!(rung(&d), "all parked: rung");
    }

    #[test]
    fn a_job_past_the_hand_off_no_longer_holds_queued_work() {
        let d = Doorbell::new(2, 1);
        d.parking();
        d.taking(0);
        d.queued();
        assert!(!rung(&d), "just started: held");
        std::thread::sleep(HAND_OFF + Duration::from_millis(2));
        d.queued();
        assert!(rung(&d), "a submitter sees the running job is long: rung");
        d.away(0);
        d.queued();
        assert!(rung(&d), "away: rung");
    }

    /// A bell with 2 readers (cap 1) and its watch, one reader parked and the other running a
    /// short job, and a job just held for it; the watch sees `has_work`.
    fn held_with_watch(has_work: bool) -> (Arc<Doorbell>, Sender<()>, std::thread::JoinHandle<()>) {
        let d = Arc::new(Doorbell::new(2, 1));
        let (closing_tx, closing) = bounded::<()>(0);
        let watch = {
            let d = Arc::clone(&d);
            std::thread::spawn(move || d.watch(|| has_work, &closing))
        };
        d.parking();
        d.taking(0);
        d.queued();
        (d, closing_tx, watch)
    }

    #[test]
    fn a_job_held_for_a_runner_that_stalls_without_stepping_the_vm_is_rung_for_by_the_watch() {
        // The runner's job never ends: only the watch can ring for the job held for it.
        let (d, closing, watch) = held_with_watch(true);
        assert!(!rung(&d), "a short job running, cap 1: held, no ring yet");
        let got = d.bell().recv_timeout(Duration::from_secs(10));
        assert!(got.is_ok(), "the watch rang once the runner's job passed the hand-off");
        d.answered();
        drop(closing);
        assert!(watch.join().is_ok(), "the watch ends when the pool closes");
    }

    #[test]
    fn the_watch_rings_nobody_once_the_held_job_was_taken() {
        // The runner took the job itself (the queue is empty for the watch).
        let (d, closing, watch) = held_with_watch(false);
        assert!(d.bell().recv_timeout(HAND_OFF * 20).is_err(), "nothing queued: no ring");
        drop(closing);
        assert!(watch.join().is_ok(), "the watch ends when the pool closes");
    }

    #[test]
    fn the_cap_leaves_a_core_to_the_submitter_and_stays_within_the_readers() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cap = running_cap(6);
        assert!((1..=6).contains(&cap), "{cap}");
        assert!(cores == 1 || cap < cores, "{cap} of {cores} cores");
        assert_eq!(running_cap(1), 1);
        assert_eq!(running_cap(0), 1);
    }

    #[test]
    fn no_job_is_left_without_an_awake_reader() {
        // One reader parks and re-checks while a submitter queues and checks, many times over:
        // whenever the reader ends up parked with a job queued, the bell holds a token.
        for _ in 0..2_000 {
            let d = Arc::new(Doorbell::new(1, 1));
            let queued = Arc::new(AtomicUsize::new(0));
            let (d2, q2) = (Arc::clone(&d), Arc::clone(&queued));
            let submitter = std::thread::spawn(move || {
                q2.fetch_add(1, SeqCst);
                d2.queued();
            });
            d.parking();
            let saw_work = queued.load(SeqCst) > 0;
            submitter.join().ok();
            if !saw_work {
                assert!(
                    d.bell().recv_timeout(Duration::from_secs(1)).is_ok(),
                    "the reader parked and the submitter did not ring"
                );
            }
        }
    }
}
