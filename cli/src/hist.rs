//! `corebpf map hist MAP` and
//! `run --hist MAP`: a histogram map printed as BCC's `print_log2_hist` prints it.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;

use corebpf::inspect::hist::{LINEAR_SLOTS, LOG2_SLOTS};
use corebpf::inspect::Histogram;
use corebpf::Map;

use crate::Result;

/// `hist` options.
#[derive(Debug, Args)]
pub struct HistArgs {
    /// The map: its id, `name NAME` or `pinned PATH`
    #[arg(value_name = "MAP", num_args = 1..=2, required = true)]
    pub map: Vec<String>,
    /// Buckets are linear (BCC's print_linear_hist), not log2
    #[arg(long)]
    pub linear: bool,
    /// What the buckets count, for the header (BCC's val_type: usecs, bytes, ...)
    #[arg(long, value_name = "LABEL", default_value = "value")]
    pub label: String,
}

/// `run` options for printing a histogram map of the object.
#[derive(Debug, Args)]
pub struct RunHistArgs {
    /// When the run ends, print the object's map MAP as a histogram (see `hist`)
    #[arg(long, value_name = "MAP")]
    pub hist: Option<String>,
    /// Also print it every SECS seconds while running (needs --hist)
    #[arg(long, value_name = "SECS", requires = "hist", value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// The --hist map's buckets are linear, not log2
    #[arg(long, requires = "hist")]
    pub hist_linear: bool,
    /// What the --hist buckets count, for the header
    #[arg(long, value_name = "LABEL", default_value = "value", requires = "hist")]
    pub hist_label: String,
}

fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| "not a positive number of seconds".to_string())
}

/// `corebpf map hist MAP`.
pub fn hist(a: &HistArgs) -> Result<()> {
    let map = open_map(&a.map)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    print(&mut out, &map, a.linear, &a.label)?;
    out.flush()?;
    Ok(())
}

/// Reads `map` as a histogram and writes it.
pub fn print(out: &mut impl Write, map: &Map, linear: bool, label: &str) -> Result<()> {
    let slots = if linear { LINEAR_SLOTS } else { LOG2_SLOTS };
    let hist = Histogram::from_map(map, slots)?;
    if linear {
        hist.write_linear(out, label)?;
    } else {
        hist.write_log2(out, label)?;
    }
    Ok(())
}

/// Opens the map named on the command line: `ID`, `name NAME` or `pinned PATH`.
fn open_map(words: &[String]) -> Result<Map> {
    match words {
        [id] => {
            let Ok(id) = id.parse::<u32>() else {
                bail!("map '{id}': expected an id, `name NAME` or `pinned PATH`");
            };
            Map::from_id(id).with_context(|| format!("opening map id {id}"))
        }
        [kw, path] if kw == "pinned" => {
            let path = PathBuf::from(path);
            Map::from_pin(&path)
                .with_context(|| format!("opening map pinned at {}", path.display()))
        }
        [kw, name] if kw == "name" => by_name(name),
        _ => bail!("expected a map id, `name NAME` or `pinned PATH`"),
    }
}

/// The map the kernel holds under `name` (the lowest id when several share it).
fn by_name(name: &str) -> Result<Map> {
    corebpf::inspect::hist::map_by_name(name)
        .with_context(|| format!("looking for map '{name}'"))?
        .with_context(|| format!("no map named '{name}'"))
}

/// Prints a histogram map of a running object every interval and at the end.
pub struct HistPrinter<'a> {
    map: &'a Map,
    args: &'a RunHistArgs,
    next: Option<Instant>,
}

impl<'a> HistPrinter<'a> {
    /// The printer of `--hist`, or `None` without it; an unknown map is an error.
    pub fn new(obj: &'a corebpf::Object, args: &'a RunHistArgs) -> Result<Option<Self>> {
        let Some(name) = &args.hist else {
            return Ok(None);
        };
        let Some(map) = obj.map(name) else {
            bail!("--hist {name}: the object has no map of that name");
        };
        Ok(Some(HistPrinter {
            map,
            args,
            next: args.interval.map(|i| Instant::now() + i),
        }))
    }

    /// When the next periodic print is due.
    pub fn due(&self) -> Option<Instant> {
        self.next
    }

    /// Prints when due, then schedules the next one.
    pub fn tick(&mut self) -> Result<()> {
        if let (Some(next), Some(every)) = (self.next, self.args.interval) {
            if Instant::now() >= next {
                self.print()?;
                self.next = Some(next + every);
            }
        }
        Ok(())
    }

    /// Prints the histogram now (a blank line first, as BCC's tools separate them).
    pub fn print(&self) -> Result<()> {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        writeln!(out)?;
        print(
            &mut out,
            self.map,
            self.args.hist_linear,
            &self.args.hist_label,
        )?;
        out.flush()?;
        Ok(())
    }
}
