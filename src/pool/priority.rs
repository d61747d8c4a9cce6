//! Worker threads run at a lower CPU priority than the rest of the process, so on a machine with
//! few cores a heavy aggregate takes the CPU only when the JavaScript thread and the readers do
//! not need it: point reads keep their pace while aggregates run, and aggregates still run at
//! full speed on an otherwise idle machine.

/// The nice value of worker threads (0 is normal, 19 the lowest): under contention the Linux
/// scheduler weighs such a thread 15 against a normal thread's 1024.
const WORKER_NICE: i32 = 19;

#[cfg(target_os = "linux")]
mod sys {
    extern "C" {
        pub fn gettid() -> i32;
        pub fn setpriority(which: u32, who: u32, prio: i32) -> i32;
    }
    /// `PRIO_PROCESS`: on Linux a thread id as `who` sets that one thread's nice value.
    pub const PRIO_PROCESS: u32 = 0;
}

/// Lowers the calling thread's priority; returns whether it took effect (it may not, e.g. in a
/// sandbox refusing `setpriority`, and the pool works the same without it).
pub fn lower_current_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: both are plain system calls on the calling thread's own id with integer
        // arguments; they touch no memory of ours, and a failure is only a return value.
        unsafe { sys::setpriority(sys::PRIO_PROCESS, sys::gettid() as u32, WORKER_NICE) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}
