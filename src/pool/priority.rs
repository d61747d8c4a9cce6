//! Worker threads run at a lower CPU priority than the rest of the process, so on a machine with
//! few cores a heavy aggregate takes the CPU only when the JavaScript thread and the readers do
//! not need it: point reads keep their pace while aggregates run, and aggregates still run at
//! full speed on an otherwise idle machine.

/// The nice value of worker threads (0 is normal, 19 the lowest): under contention the Linux
/// scheduler weighs such a thread 15 against a normal thread's 1024.
const WORKER_NICE: i32 = 19;

#[cfg(target_os = "linux")]
mod sys {
    // Only functions every glibc since 2.2.5 has: the prebuilt addon is linked against glibc 2.17,
    // where a newer function (`gettid` came in 2.30) stays an unversioned undefined symbol and
    // the addon fails to load on an older glibc with "undefined symbol".
    extern "C" {
        pub fn setpriority(which: u32, who: u32, prio: i32) -> i32;
    }
    /// `PRIO_PROCESS`: on Linux the nice value is per thread, and `who` = 0 is the calling thread
    /// (the kernel's `current`), not the whole process.
    pub const PRIO_PROCESS: u32 = 0;
}

/// Lowers the calling thread's priority; returns whether it took effect (it may not, e.g. in a
/// sandbox refusing `setpriority`, and the pool works the same without it).
pub fn lower_current_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a plain system call on the calling thread (who = 0) with integer arguments; it
        // touches no memory of ours, and a failure is only a return value.
        unsafe { sys::setpriority(sys::PRIO_PROCESS, 0, WORKER_NICE) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    extern "C" {
        fn getpriority(which: u32, who: u32) -> i32;
    }

    /// The nice value of the calling thread.
    fn own_nice() -> i32 {
        // SAFETY: a plain system call on the calling thread with integer arguments.
        unsafe { getpriority(super::sys::PRIO_PROCESS, 0) }
    }

    #[test]
    fn lowers_the_calling_thread_and_no_other() {
        let before = own_nice();
        let (lowered, inside) = std::thread::spawn(|| (super::lower_current_thread(), own_nice()))
            .join()
            .unwrap();
        if lowered {
            assert_eq!(
                inside,
                super::WORKER_NICE,
                "the thread that asked runs at the worker nice value"
            );
        }
        assert_eq!(own_nice(), before, "the other threads keep theirs");
    }
}
