//! Interleaved rounds, clocks and statistics.

use std::time::{Duration, Instant};

/// A result for the harness: every error is a message for the terminal.
pub type Result<T, E = String> = std::result::Result<T, E>;

/// What one measured section cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cost {
    /// Wall-clock seconds.
    pub wall: f64,
    /// User CPU seconds of the calling thread (getrusage).
    pub user: f64,
    /// System CPU seconds of the calling thread (getrusage).
    pub sys: f64,
    /// CPU seconds of the calling thread (CLOCK_THREAD_CPUTIME_ID: user + system).
    pub cpu: f64,
}

impl Cost {
    fn add(&mut self, o: &Cost) {
        self.wall += o.wall;
        self.user += o.user;
        self.sys += o.sys;
        self.cpu += o.cpu;
    }

    fn scale(&self, f: f64) -> Cost {
        Cost {
            wall: self.wall * f,
            user: self.user * f,
            sys: self.sys * f,
            cpu: self.cpu * f,
        }
    }
}

/// Which clock a case reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Wall,
    User,
    Cpu,
}

impl Metric {
    pub fn of(self, c: &Cost) -> f64 {
        match self {
            Metric::Wall => c.wall,
            Metric::User => c.user,
            Metric::Cpu => c.cpu,
        }
    }
}

fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn thread_rusage() -> (f64, f64) {
    // SAFETY: an all-zero rusage is valid, and getrusage writes one.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a valid rusage to write.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// Accumulates the cost of the sections a benchmark body chooses to measure.
#[derive(Default)]
pub struct Stopwatch {
    total: Cost,
}

impl Stopwatch {
    /// Runs `f`, adding its cost.
    pub fn measure<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (u0, s0) = thread_rusage();
        let c0 = thread_cpu();
        let t0 = Instant::now();
        let out = f();
        let wall = t0.elapsed().as_secs_f64();
        let c1 = thread_cpu();
        let (u1, s1) = thread_rusage();
        self.total.add(&Cost {
            wall,
            user: u1 - u0,
            sys: s1 - s0,
            cpu: c1 - c0,
        });
        out
    }
}

/// One system's benchmark body: does one iteration, timing what counts through the
/// stopwatch, and returns how many units of work it did (1, or e.g. events consumed).
pub type Body<'a> = Box<dyn FnMut(&mut Stopwatch) -> Result<u64> + 'a>;

/// A system under test in one case.
pub struct System<'a> {
    pub name: String,
    pub body: Body<'a>,
}

impl<'a> System<'a> {
    pub fn new(
        name: impl Into<String>,
        body: impl FnMut(&mut Stopwatch) -> Result<u64> + 'a,
    ) -> Self {
        System {
            name: name.into(),
            body: Box::new(body),
        }
    }
}

/// How to run a case's rounds.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub rounds: usize,
    pub warmup: usize,
    /// A sample should cost at least this much of the metric (iterations are repeated).
    pub min_sample: Duration,
    /// Never repeat an iteration more than this in one sample.
    pub max_iters: usize,
    pub metric: Metric,
}

/// Per-round, per-unit costs of each system, in the order the systems were given.
pub struct Samples {
    pub names: Vec<String>,
    /// `costs[system][round]`
    pub costs: Vec<Vec<Cost>>,
    /// Iterations per sample, per system.
    pub iters: Vec<usize>,
}

impl Samples {
    pub fn metric(&self, system: usize, m: Metric) -> Vec<f64> {
        self.costs[system].iter().map(|c| m.of(c)).collect()
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

fn sample(body: &mut Body<'_>, iters: usize) -> Result<Cost> {
    let mut sw = Stopwatch::default();
    let mut units = 0u64;
    for _ in 0..iters {
        units += body(&mut sw)?;
    }
    Ok(sw.total.scale(1.0 / units.max(1) as f64))
}

/// Runs `systems` interleaved: warm-up (which also calibrates the iterations per sample),
/// then `plan.rounds` rounds, each running every system once in a rotated order.
pub fn run(plan: &Plan, systems: &mut [System<'_>]) -> Result<Samples> {
    let n = systems.len();
    let mut iters = vec![1usize; n];
    for _ in 0..plan.warmup.max(1) {
        for (i, s) in systems.iter_mut().enumerate() {
            let mut sw = Stopwatch::default();
            (s.body)(&mut sw).map_err(|e| format!("{} (warm-up): {e}", s.name))?;
            // The last warm-up round decides: enough iterations to fill min_sample.
            let per = plan.metric.of(&sw.total).max(1e-9);
            iters[i] =
                ((plan.min_sample.as_secs_f64() / per).ceil() as usize).clamp(1, plan.max_iters);
        }
    }
    let mut costs = vec![Vec::with_capacity(plan.rounds); n];
    for round in 0..plan.rounds {
        for k in 0..n {
            let i = (round + k) % n;
            let c = sample(&mut systems[i].body, iters[i])
                .map_err(|e| format!("{} (round {round}): {e}", systems[i].name))?;
            costs[i].push(c);
        }
    }
    Ok(Samples {
        names: systems.iter().map(|s| s.name.clone()).collect(),
        costs,
        iters,
    })
}

/// Median and interquartile range.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub median: f64,
    pub p25: f64,
    pub p75: f64,
    pub min: f64,
    pub max: f64,
}

pub fn summarize(values: &[f64]) -> Summary {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return Summary {
            median: f64::NAN,
            p25: f64::NAN,
            p75: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        };
    }
    let q = |p: f64| {
        let pos = p * (v.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    Summary {
        median: q(0.5),
        p25: q(0.25),
        p75: q(0.75),
        min: v[0],
        max: v[v.len() - 1],
    }
}

/// Per-round ratios a/b.
pub fn paired_ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}
