//! The BPF links the kernel holds, described as `bpftool link show` describes them:
//! type, program, attach target in words and the processes holding each one.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::link::{Link, LinkError};
use crate::sys::bpf::{self as sysbpf, IterParam, LinkInfo, LinkKind, PerfEventLink};
use crate::sys::SysError;

/// Errors listing or describing links.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkInspectError {
    /// `BPF_LINK_GET_NEXT_ID` failed.
    #[error("listing link ids")]
    List(#[source] SysError),
    /// Opening the link or reading its info failed.
    #[error("reading link {id}")]
    Read {
        /// The link id.
        id: u32,
        /// The failed call.
        #[source]
        source: LinkError,
    },
}

/// A value of one attach-target field: a number or text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldValue {
    /// A number (an id, an ifindex, an offset).
    Num(u64),
    /// Text (a name, a path, an attach type).
    Text(String),
}

impl std::fmt::Display for FieldValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldValue::Num(n) => write!(f, "{n}"),
            FieldValue::Text(t) => f.write_str(t),
        }
    }
}

/// A process holding a link open (the same record as a program's holder).
pub use super::prog::Holder;

/// One link, described.
///
/// # Examples
///
/// ```no_run
/// for link in corebpf::inspect::list_links()? {
///     println!("{}: {} prog {} {}", link.info.id, link.info.type_name(),
///              link.info.prog_id, link.target());
/// }
/// # Ok::<(), corebpf::inspect::LinkInspectError>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LinkEntry {
    /// What the kernel says about it.
    pub info: LinkInfo,
    /// The name of the program it runs, when that program could be opened.
    pub prog_name: Option<String>,
    /// The attach target, field by field (`tracepoint`, `ifindex`, `ifname`,
    /// `cgroup_id`, `cgroup_path`, `attach_type`, …).
    pub fields: Vec<(&'static str, FieldValue)>,
    /// The processes holding a descriptor of it (filled by [`list_links`] and
    /// [`LinkEntry::from_id`]).
    pub pids: Vec<Holder>,
}

impl LinkEntry {
    /// Describes the link with this id.
    pub fn from_id(id: u32) -> Result<LinkEntry, LinkInspectError> {
        let mut entry = describe(id)?;
        entry.pids = link_pids().remove(&id).unwrap_or_default();
        Ok(entry)
    }

    /// The attach target in words: the fields as `name value`, space-separated.
    pub fn target(&self) -> String {
        let words: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        words.join("  ")
    }
}

/// Every link the kernel holds, by increasing id, with the processes holding each.
/// Links closed while listing are left out.
pub fn list_links() -> Result<Vec<LinkEntry>, LinkInspectError> {
    let (listed, held) = super::procfs::held_alongside(&super::procfs::LINK, list_without_pids);
    let mut pids = super::procfs::by_id(held);
    let mut out = listed?;
    for entry in &mut out {
        entry.pids = pids.remove(&entry.info.id).unwrap_or_default();
    }
    Ok(out)
}

fn list_without_pids() -> Result<Vec<LinkEntry>, LinkInspectError> {
    let mut out = Vec::new();
    let mut id = 0;
    while let Some(next) = sysbpf::link_get_next_id(id).map_err(LinkInspectError::List)? {
        id = next;
        match describe(id) {
            Ok(entry) => out.push(entry),
            Err(LinkInspectError::Read {
                source: LinkError::Open { source, .. },
                ..
            }) if source.errno() == libc::ENOENT => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn describe(id: u32) -> Result<LinkEntry, LinkInspectError> {
    let read = |source| LinkInspectError::Read { id, source };
    let info = Link::from_id(id).and_then(|l| l.info()).map_err(read)?;
    let prog_name = sysbpf::prog_get_fd_by_id(info.prog_id)
        .and_then(|fd| sysbpf::prog_info(std::os::fd::AsFd::as_fd(&fd)))
        .ok()
        .map(|p| p.name());
    let fields = target_fields(&info.kind);
    Ok(LinkEntry {
        info,
        prog_name,
        fields,
        pids: Vec::new(),
    })
}

/// Link id → the processes holding it, from `/proc` (each descriptor's id read from a
/// duplicate, or its `fdinfo` before 5.6). Processes that vanish meanwhile are skipped.
pub fn link_pids() -> BTreeMap<u32, Vec<Holder>> {
    super::procfs::holders_by_id(&super::procfs::LINK)
}

fn num(v: impl Into<u64>) -> FieldValue {
    FieldValue::Num(v.into())
}

fn text(v: impl Into<String>) -> FieldValue {
    FieldValue::Text(v.into())
}

fn attach(attach_type: u32) -> (&'static str, FieldValue) {
    ("attach_type", text(attach_type_name(attach_type)))
}

fn iface(ifindex: u32) -> Vec<(&'static str, FieldValue)> {
    let mut v = vec![("ifindex", num(ifindex))];
    if let Some(name) = ifname(ifindex) {
        v.push(("ifname", text(name)));
    }
    v
}

/// The attach target of a link kind, field by field.
fn target_fields(kind: &LinkKind) -> Vec<(&'static str, FieldValue)> {
    match kind {
        LinkKind::RawTracepoint { name, .. } => vec![("tracepoint", text(name.clone()))],
        LinkKind::Tracing {
            attach_type,
            target_obj_id,
            target_btf_id,
            ..
        } => vec![
            attach(*attach_type),
            ("target_obj_id", num(*target_obj_id)),
            ("target_btf_id", num(*target_btf_id)),
        ],
        LinkKind::Cgroup {
            cgroup_id,
            attach_type,
        } => {
            let mut v = vec![attach(*attach_type), ("cgroup_id", num(*cgroup_id))];
            if let Some(path) = cgroup_path(*cgroup_id) {
                v.push(("cgroup_path", text(path.to_string_lossy())));
            }
            v
        }
        LinkKind::Iter { target, param } => {
            let mut v = vec![("target", text(target.clone()))];
            match param {
                IterParam::Map { map_id } => v.push(("map_id", num(*map_id))),
                IterParam::Task { tid, pid } => {
                    v.push(("tid", num(*tid)));
                    v.push(("pid", num(*pid)));
                }
                IterParam::Cgroup { cgroup_id, .. } => v.push(("cgroup_id", num(*cgroup_id))),
                _ => {}
            }
            v
        }
        LinkKind::Netns {
            netns_ino,
            attach_type,
        } => vec![attach(*attach_type), ("netns_ino", num(*netns_ino))],
        LinkKind::Xdp { ifindex } => iface(*ifindex),
        LinkKind::StructOps { map_id } => vec![("map_id", num(*map_id))],
        LinkKind::Netfilter {
            pf,
            hooknum,
            priority,
            ..
        } => vec![
            ("pf", num(*pf)),
            ("hooknum", num(*hooknum)),
            ("priority", text(priority.to_string())),
        ],
        LinkKind::KprobeMulti { addrs, .. } => {
            vec![("kprobe_multi_count", num(addrs.len() as u64))]
        }
        LinkKind::UprobeMulti {
            path, offsets, pid, ..
        } => vec![
            ("path", text(path.clone())),
            ("uprobe_multi_count", num(offsets.len() as u64)),
            ("pid", num(*pid)),
        ],
        LinkKind::PerfEvent(p) => perf_event_fields(p),
        LinkKind::Tcx {
            ifindex,
            attach_type,
        }
        | LinkKind::Netkit {
            ifindex,
            attach_type,
        } => {
            let mut v = iface(*ifindex);
            v.push(attach(*attach_type));
            v
        }
        LinkKind::Sockmap {
            map_id,
            attach_type,
        } => vec![attach(*attach_type), ("map_id", num(*map_id))],
        _ => Vec::new(),
    }
}

fn perf_event_fields(p: &PerfEventLink) -> Vec<(&'static str, FieldValue)> {
    match p {
        PerfEventLink::Kprobe {
            function,
            offset,
            retprobe,
            ..
        } => vec![
            (
                if *retprobe { "kretprobe" } else { "kprobe" },
                text(function.clone()),
            ),
            ("offset", num(*offset)),
        ],
        PerfEventLink::Uprobe {
            path,
            offset,
            retprobe,
            ..
        } => vec![
            (
                if *retprobe { "uretprobe" } else { "uprobe" },
                text(path.clone()),
            ),
            ("offset", num(*offset)),
        ],
        PerfEventLink::Tracepoint { name, .. } => vec![("tracepoint", text(name.clone()))],
        PerfEventLink::Event {
            perf_type, config, ..
        } => vec![("perf_type", num(*perf_type)), ("config", num(*config))],
        _ => Vec::new(),
    }
}

/// The interface's name, from `/sys/class/net/*/ifindex`.
fn ifname(ifindex: u32) -> Option<String> {
    fs::read_dir("/sys/class/net")
        .ok()?
        .flatten()
        .find_map(|d| {
            let idx = fs::read_to_string(d.path().join("ifindex")).ok()?;
            (idx.trim().parse::<u32>().ok()? == ifindex)
                .then(|| d.file_name().to_string_lossy().into_owned())
        })
}

/// The cgroup v2 directory whose inode number is `cgroup_id`, as a path under the
/// cgroup2 mount (`/` for the root), searched under `/sys/fs/cgroup`.
pub fn cgroup_path(cgroup_id: u64) -> Option<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let found = find_ino(root, cgroup_id, 0)?;
    let rel = found.strip_prefix(root).ok()?;
    Some(Path::new("/").join(rel))
}

fn find_ino(dir: &Path, ino: u64, depth: u32) -> Option<PathBuf> {
    if fs::metadata(dir).ok()?.ino() == ino {
        return Some(dir.to_path_buf());
    }
    if depth > 32 {
        return None;
    }
    fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            find_ino(&e.path(), ino, depth + 1)
        } else {
            None
        }
    })
}

/// `enum bpf_attach_type` in words, as bpftool names them (`cgroup_inet_ingress`).
pub fn attach_type_name(attach_type: u32) -> &'static str {
    const NAMES: [&str; 58] = [
        "cgroup_inet_ingress",
        "cgroup_inet_egress",
        "cgroup_inet_sock_create",
        "cgroup_sock_ops",
        "sk_skb_stream_parser",
        "sk_skb_stream_verdict",
        "cgroup_device",
        "sk_msg_verdict",
        "cgroup_inet4_bind",
        "cgroup_inet6_bind",
        "cgroup_inet4_connect",
        "cgroup_inet6_connect",
        "cgroup_inet4_post_bind",
        "cgroup_inet6_post_bind",
        "cgroup_udp4_sendmsg",
        "cgroup_udp6_sendmsg",
        "lirc_mode2",
        "flow_dissector",
        "cgroup_sysctl",
        "cgroup_udp4_recvmsg",
        "cgroup_udp6_recvmsg",
        "cgroup_getsockopt",
        "cgroup_setsockopt",
        "trace_raw_tp",
        "trace_fentry",
        "trace_fexit",
        "modify_return",
        "lsm_mac",
        "trace_iter",
        "cgroup_inet4_getpeername",
        "cgroup_inet6_getpeername",
        "cgroup_inet4_getsockname",
        "cgroup_inet6_getsockname",
        "xdp_devmap",
        "cgroup_inet_sock_release",
        "xdp_cpumap",
        "sk_lookup",
        "xdp",
        "sk_skb_verdict",
        "sk_reuseport_select",
        "sk_reuseport_select_or_migrate",
        "perf_event",
        "trace_kprobe_multi",
        "lsm_cgroup",
        "struct_ops",
        "netfilter",
        "tcx_ingress",
        "tcx_egress",
        "trace_uprobe_multi",
        "cgroup_unix_connect",
        "cgroup_unix_sendmsg",
        "cgroup_unix_recvmsg",
        "cgroup_unix_getpeername",
        "cgroup_unix_getsockname",
        "netkit_primary",
        "netkit_peer",
        "trace_kprobe_session",
        "trace_uprobe_session",
    ];
    NAMES
        .get(attach_type as usize)
        .copied()
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_type_names_follow_the_enum() {
        use crate::sys::bpf::attach_type as at;
        assert_eq!(
            attach_type_name(at::CGROUP_INET_INGRESS),
            "cgroup_inet_ingress"
        );
        assert_eq!(attach_type_name(at::XDP), "xdp");
        assert_eq!(attach_type_name(at::TCX_EGRESS), "tcx_egress");
        assert_eq!(
            attach_type_name(at::TRACE_UPROBE_SESSION),
            "trace_uprobe_session"
        );
        assert_eq!(attach_type_name(999), "unknown");
    }

    #[test]
    fn the_root_cgroup_resolves_to_slash() {
        let Ok(meta) = fs::metadata("/sys/fs/cgroup") else {
            eprintln!("skip: no /sys/fs/cgroup");
            return;
        };
        assert_eq!(cgroup_path(meta.ino()), Some(PathBuf::from("/")));
    }
}
