//! Waking reader threads only as queued work needs. Readers take jobs from their channel without
//! ever blocking on it, so a job sent there wakes nobody by itself (a blocked receiver would cost
//! the sending thread — the JavaScript thread — a futex wake per call while readers come and go).
//! Instead a reader that finds the queue empty spins briefly (if no other reader is looking for
//! work already), then parks on this bell, which is rung only when no reader is idle (looking
//! for work): a reader running a job does not count, so a job never waits behind a long query or
//! an open iteration while another reader sleeps. In a burst the reader that is looking takes
//! what was queued meanwhile, and readers are woken only when all that are up are busy.
//!
//! No wake-up is lost: a reader announces that it parks (`idle` - 1) and then looks at the queue
//! once more before parking; a submitter queues its job and then reads `idle`. With a SeqCst
//! fence on both sides, either the reader sees the job or the submitter sees no reader idle and
//! rings (the bell keeps up to one token per reader, so a ring never blocks and never vanishes
//! while a reader may still park).

use std::sync::atomic::{fence, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

/// How long a thread that found its queue empty keeps looking before it parks: long enough for
/// the next call of a burst to arrive (a few microseconds apart), short enough to cost little
/// when none comes. It never yields meanwhile: a yield can hand the core to a low-priority
/// worker for a whole scheduler slice, milliseconds, while a read waits.
const SPIN_FOR: Duration = Duration::from_micros(20);

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

pub struct Doorbell {
    /// Readers looking for work: spinning or about to look at the queue (neither parked nor
    /// running a job).
    idle: AtomicUsize,
    ring: Sender<()>,
    bell: Receiver<()>,
}

impl Doorbell {
    /// A bell for `readers` threads, all counted idle until they first take a job or park.
    pub fn new(readers: usize) -> Doorbell {
        let (ring, bell) = bounded(readers.max(1));
        Doorbell {
            idle: AtomicUsize::new(readers),
            ring,
            bell,
        }
    }

    /// After a job was queued (by a submitter, or left in the queue by a reader that took
    /// others): wakes a reader if none is looking for work.
    pub fn queued(&self) {
        fence(SeqCst);
        if self.idle.load(SeqCst) == 0 {
            let _ = self.ring.try_send(());
        }
    }

    /// The reader took a job: busy until `looking`. It must then look at the queue once more
    /// and call `queued` if jobs remain: a submitter that queued one just before counted this
    /// reader as idle and did not ring.
    pub fn taking(&self) {
        self.idle.fetch_sub(1, SeqCst);
        fence(SeqCst);
    }

    /// The reader is looking for work again.
    pub fn looking(&self) {
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

    #[test]
    fn a_submitter_rings_only_when_no_reader_is_looking_for_work() {
        let d = Doorbell::new(2);
        d.queued();
        assert!(d.bell().try_recv().is_err(), "two readers looking: no ring");
        d.parking();
        d.queued();
        assert!(d.bell().try_recv().is_err(), "one still looking: no ring");
        d.taking();
        d.queued();
        assert!(d.bell().try_recv().is_ok(), "one parked, one running a job: rung");
        d.looking();
        d.queued();
        assert!(d.bell().try_recv().is_err(), "the busy one looks again: no ring");
        d.parking();
        d.queued();
        d.queued();
        assert_eq!(
            d.bell().try_iter().count(),
            2,
            "both parked: a token per reader at most"
        );
    }

    #[test]
    fn no_job_is_left_without_an_awake_reader() {
        // One reader parks and re-checks while a submitter queues and checks, many times over:
        // whenever the reader ends up parked with a job queued, the bell holds a token.
        for _ in 0..2_000 {
            let d = Arc::new(Doorbell::new(1));
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
