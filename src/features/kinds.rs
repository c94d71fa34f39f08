//! The kinds the kernel is asked about: program types, link types, helpers — their
//! numbers (`include/uapi/linux/bpf.h`) and the names bpftool prints.

/// A program type (`enum bpf_prog_type`), as a named number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProgramType(pub u32);

impl ProgramType {
    /// `BPF_PROG_TYPE_SOCKET_FILTER`.
    pub const SOCKET_FILTER: ProgramType = ProgramType(1);
    /// `BPF_PROG_TYPE_KPROBE`.
    pub const KPROBE: ProgramType = ProgramType(2);
    /// `BPF_PROG_TYPE_SCHED_CLS`.
    pub const SCHED_CLS: ProgramType = ProgramType(3);
    /// `BPF_PROG_TYPE_SCHED_ACT`.
    pub const SCHED_ACT: ProgramType = ProgramType(4);
    /// `BPF_PROG_TYPE_TRACEPOINT`.
    pub const TRACEPOINT: ProgramType = ProgramType(5);
    /// `BPF_PROG_TYPE_XDP`.
    pub const XDP: ProgramType = ProgramType(6);
    /// `BPF_PROG_TYPE_PERF_EVENT`.
    pub const PERF_EVENT: ProgramType = ProgramType(7);
    /// `BPF_PROG_TYPE_CGROUP_SKB`.
    pub const CGROUP_SKB: ProgramType = ProgramType(8);
    /// `BPF_PROG_TYPE_CGROUP_SOCK`.
    pub const CGROUP_SOCK: ProgramType = ProgramType(9);
    /// `BPF_PROG_TYPE_LWT_IN`.
    pub const LWT_IN: ProgramType = ProgramType(10);
    /// `BPF_PROG_TYPE_LWT_OUT`.
    pub const LWT_OUT: ProgramType = ProgramType(11);
    /// `BPF_PROG_TYPE_LWT_XMIT`.
    pub const LWT_XMIT: ProgramType = ProgramType(12);
    /// `BPF_PROG_TYPE_SOCK_OPS`.
    pub const SOCK_OPS: ProgramType = ProgramType(13);
    /// `BPF_PROG_TYPE_SK_SKB`.
    pub const SK_SKB: ProgramType = ProgramType(14);
    /// `BPF_PROG_TYPE_CGROUP_DEVICE`.
    pub const CGROUP_DEVICE: ProgramType = ProgramType(15);
    /// `BPF_PROG_TYPE_SK_MSG`.
    pub const SK_MSG: ProgramType = ProgramType(16);
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT`.
    pub const RAW_TRACEPOINT: ProgramType = ProgramType(17);
    /// `BPF_PROG_TYPE_CGROUP_SOCK_ADDR`.
    pub const CGROUP_SOCK_ADDR: ProgramType = ProgramType(18);
    /// `BPF_PROG_TYPE_LWT_SEG6LOCAL`.
    pub const LWT_SEG6LOCAL: ProgramType = ProgramType(19);
    /// `BPF_PROG_TYPE_LIRC_MODE2`.
    pub const LIRC_MODE2: ProgramType = ProgramType(20);
    /// `BPF_PROG_TYPE_SK_REUSEPORT`.
    pub const SK_REUSEPORT: ProgramType = ProgramType(21);
    /// `BPF_PROG_TYPE_FLOW_DISSECTOR`.
    pub const FLOW_DISSECTOR: ProgramType = ProgramType(22);
    /// `BPF_PROG_TYPE_CGROUP_SYSCTL`.
    pub const CGROUP_SYSCTL: ProgramType = ProgramType(23);
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE`.
    pub const RAW_TRACEPOINT_WRITABLE: ProgramType = ProgramType(24);
    /// `BPF_PROG_TYPE_CGROUP_SOCKOPT`.
    pub const CGROUP_SOCKOPT: ProgramType = ProgramType(25);
    /// `BPF_PROG_TYPE_TRACING`.
    pub const TRACING: ProgramType = ProgramType(26);
    /// `BPF_PROG_TYPE_STRUCT_OPS`.
    pub const STRUCT_OPS: ProgramType = ProgramType(27);
    /// `BPF_PROG_TYPE_EXT`.
    pub const EXT: ProgramType = ProgramType(28);
    /// `BPF_PROG_TYPE_LSM`.
    pub const LSM: ProgramType = ProgramType(29);
    /// `BPF_PROG_TYPE_SK_LOOKUP`.
    pub const SK_LOOKUP: ProgramType = ProgramType(30);
    /// `BPF_PROG_TYPE_SYSCALL`.
    pub const SYSCALL: ProgramType = ProgramType(31);
    /// `BPF_PROG_TYPE_NETFILTER`.
    pub const NETFILTER: ProgramType = ProgramType(32);

    /// Every program type this crate knows (all but `unspec`), in kernel order.
    pub fn all() -> impl Iterator<Item = ProgramType> {
        (1..PROG_TYPE_NAMES.len() as u32).map(ProgramType)
    }

    /// The kernel's name, as bpftool prints it (`socket_filter`, `sched_cls`, …);
    /// `unknown` for numbers this crate does not know.
    pub fn name(self) -> &'static str {
        PROG_TYPE_NAMES
            .get(self.0 as usize)
            .copied()
            .unwrap_or("unknown")
    }

    /// The type named `name` (as [`name`](Self::name) spells it).
    pub fn from_name(name: &str) -> Option<ProgramType> {
        PROG_TYPE_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| ProgramType(i as u32))
    }
}

impl std::fmt::Display for ProgramType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const PROG_TYPE_NAMES: [&str; 33] = [
    "unspec",
    "socket_filter",
    "kprobe",
    "sched_cls",
    "sched_act",
    "tracepoint",
    "xdp",
    "perf_event",
    "cgroup_skb",
    "cgroup_sock",
    "lwt_in",
    "lwt_out",
    "lwt_xmit",
    "sock_ops",
    "sk_skb",
    "cgroup_device",
    "sk_msg",
    "raw_tracepoint",
    "cgroup_sock_addr",
    "lwt_seg6local",
    "lirc_mode2",
    "sk_reuseport",
    "flow_dissector",
    "cgroup_sysctl",
    "raw_tracepoint_writable",
    "cgroup_sockopt",
    "tracing",
    "struct_ops",
    "ext",
    "lsm",
    "sk_lookup",
    "syscall",
    "netfilter",
];

/// A link type (`enum bpf_link_type`), as a named number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// `BPF_LINK_TYPE_RAW_TRACEPOINT`.
    pub const RAW_TRACEPOINT: LinkType = LinkType(1);
    /// `BPF_LINK_TYPE_TRACING`.
    pub const TRACING: LinkType = LinkType(2);
    /// `BPF_LINK_TYPE_CGROUP`.
    pub const CGROUP: LinkType = LinkType(3);
    /// `BPF_LINK_TYPE_ITER`.
    pub const ITER: LinkType = LinkType(4);
    /// `BPF_LINK_TYPE_NETNS`.
    pub const NETNS: LinkType = LinkType(5);
    /// `BPF_LINK_TYPE_XDP`.
    pub const XDP: LinkType = LinkType(6);
    /// `BPF_LINK_TYPE_PERF_EVENT`.
    pub const PERF_EVENT: LinkType = LinkType(7);
    /// `BPF_LINK_TYPE_KPROBE_MULTI`.
    pub const KPROBE_MULTI: LinkType = LinkType(8);
    /// `BPF_LINK_TYPE_STRUCT_OPS`.
    pub const STRUCT_OPS: LinkType = LinkType(9);
    /// `BPF_LINK_TYPE_NETFILTER`.
    pub const NETFILTER: LinkType = LinkType(10);
    /// `BPF_LINK_TYPE_TCX`.
    pub const TCX: LinkType = LinkType(11);
    /// `BPF_LINK_TYPE_UPROBE_MULTI`.
    pub const UPROBE_MULTI: LinkType = LinkType(12);
    /// `BPF_LINK_TYPE_NETKIT`.
    pub const NETKIT: LinkType = LinkType(13);
    /// `BPF_LINK_TYPE_SOCKMAP`.
    pub const SOCKMAP: LinkType = LinkType(14);

    /// Every link type this crate knows (all but `unspec`), in kernel order.
    pub fn all() -> impl Iterator<Item = LinkType> {
        (1..LINK_TYPE_NAMES.len() as u32).map(LinkType)
    }

    /// The kernel's name, as bpftool prints it (`raw_tracepoint`, `tcx`, …); `unknown`
    /// for numbers this crate does not know.
    pub fn name(self) -> &'static str {
        LINK_TYPE_NAMES
            .get(self.0 as usize)
            .copied()
            .unwrap_or("unknown")
    }
}

impl std::fmt::Display for LinkType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const LINK_TYPE_NAMES: [&str; 15] = [
    "unspec",
    "raw_tracepoint",
    "tracing",
    "cgroup",
    "iter",
    "netns",
    "xdp",
    "perf_event",
    "kprobe_multi",
    "struct_ops",
    "netfilter",
    "tcx",
    "uprobe_multi",
    "netkit",
    "sockmap",
];

/// The largest map type number this crate knows (`BPF_MAP_TYPE_ARENA`).
const LAST_MAP_TYPE: u32 = 33;

/// Every map type this crate knows (all but `unspec`), in kernel order.
pub fn map_types() -> impl Iterator<Item = crate::map::MapType> {
    (1..=LAST_MAP_TYPE).map(crate::map::MapType)
}

/// The name of helper `id` (`enum bpf_func_id`) as bpftool prints it
/// (`bpf_map_lookup_elem`); `None` for 0 and for numbers this crate does not know.
pub fn helper_name(id: u32) -> Option<&'static str> {
    if id == 0 {
        return None;
    }
    HELPER_NAMES.get(id as usize).copied()
}

/// The helper named `name` (`bpf_map_lookup_elem`).
pub fn helper_id(name: &str) -> Option<u32> {
    HELPER_NAMES
        .iter()
        .skip(1)
        .position(|n| *n == name)
        .map(|i| i as u32 + 1)
}

/// Every helper id this crate knows, from 1 (`bpf_map_lookup_elem`) to the last one
/// the kernel defined (211, `bpf_cgrp_storage_delete`: new kernel functions are kfuncs).
pub fn helper_ids() -> impl Iterator<Item = u32> {
    1..HELPER_NAMES.len() as u32
}

/// Helper names by id, from `enum bpf_func_id` (6.18).
const HELPER_NAMES: [&str; 212] = [
    "bpf_unspec",
    "bpf_map_lookup_elem",
    "bpf_map_update_elem",
    "bpf_map_delete_elem",
    "bpf_probe_read",
    "bpf_ktime_get_ns",
    "bpf_trace_printk",
    "bpf_get_prandom_u32",
    "bpf_get_smp_processor_id",
    "bpf_skb_store_bytes",
    "bpf_l3_csum_replace",
    "bpf_l4_csum_replace",
    "bpf_tail_call",
    "bpf_clone_redirect",
    "bpf_get_current_pid_tgid",
    "bpf_get_current_uid_gid",
    "bpf_get_current_comm",
    "bpf_get_cgroup_classid",
    "bpf_skb_vlan_push",
    "bpf_skb_vlan_pop",
    "bpf_skb_get_tunnel_key",
    "bpf_skb_set_tunnel_key",
    "bpf_perf_event_read",
    "bpf_redirect",
    "bpf_get_route_realm",
    "bpf_perf_event_output",
    "bpf_skb_load_bytes",
    "bpf_get_stackid",
    "bpf_csum_diff",
    "bpf_skb_get_tunnel_opt",
    "bpf_skb_set_tunnel_opt",
    "bpf_skb_change_proto",
    "bpf_skb_change_type",
    "bpf_skb_under_cgroup",
    "bpf_get_hash_recalc",
    "bpf_get_current_task",
    "bpf_probe_write_user",
    "bpf_current_task_under_cgroup",
    "bpf_skb_change_tail",
    "bpf_skb_pull_data",
    "bpf_csum_update",
    "bpf_set_hash_invalid",
    "bpf_get_numa_node_id",
    "bpf_skb_change_head",
    "bpf_xdp_adjust_head",
    "bpf_probe_read_str",
    "bpf_get_socket_cookie",
    "bpf_get_socket_uid",
    "bpf_set_hash",
    "bpf_setsockopt",
    "bpf_skb_adjust_room",
    "bpf_redirect_map",
    "bpf_sk_redirect_map",
    "bpf_sock_map_update",
    "bpf_xdp_adjust_meta",
    "bpf_perf_event_read_value",
    "bpf_perf_prog_read_value",
    "bpf_getsockopt",
    "bpf_override_return",
    "bpf_sock_ops_cb_flags_set",
    "bpf_msg_redirect_map",
    "bpf_msg_apply_bytes",
    "bpf_msg_cork_bytes",
    "bpf_msg_pull_data",
    "bpf_bind",
    "bpf_xdp_adjust_tail",
    "bpf_skb_get_xfrm_state",
    "bpf_get_stack",
    "bpf_skb_load_bytes_relative",
    "bpf_fib_lookup",
    "bpf_sock_hash_update",
    "bpf_msg_redirect_hash",
    "bpf_sk_redirect_hash",
    "bpf_lwt_push_encap",
    "bpf_lwt_seg6_store_bytes",
    "bpf_lwt_seg6_adjust_srh",
    "bpf_lwt_seg6_action",
    "bpf_rc_repeat",
    "bpf_rc_keydown",
    "bpf_skb_cgroup_id",
    "bpf_get_current_cgroup_id",
    "bpf_get_local_storage",
    "bpf_sk_select_reuseport",
    "bpf_skb_ancestor_cgroup_id",
    "bpf_sk_lookup_tcp",
    "bpf_sk_lookup_udp",
    "bpf_sk_release",
    "bpf_map_push_elem",
    "bpf_map_pop_elem",
    "bpf_map_peek_elem",
    "bpf_msg_push_data",
    "bpf_msg_pop_data",
    "bpf_rc_pointer_rel",
    "bpf_spin_lock",
    "bpf_spin_unlock",
    "bpf_sk_fullsock",
    "bpf_tcp_sock",
    "bpf_skb_ecn_set_ce",
    "bpf_get_listener_sock",
    "bpf_skc_lookup_tcp",
    "bpf_tcp_check_syncookie",
    "bpf_sysctl_get_name",
    "bpf_sysctl_get_current_value",
    "bpf_sysctl_get_new_value",
    "bpf_sysctl_set_new_value",
    "bpf_strtol",
    "bpf_strtoul",
    "bpf_sk_storage_get",
    "bpf_sk_storage_delete",
    "bpf_send_signal",
    "bpf_tcp_gen_syncookie",
    "bpf_skb_output",
    "bpf_probe_read_user",
    "bpf_probe_read_kernel",
    "bpf_probe_read_user_str",
    "bpf_probe_read_kernel_str",
    "bpf_tcp_send_ack",
    "bpf_send_signal_thread",
    "bpf_jiffies64",
    "bpf_read_branch_records",
    "bpf_get_ns_current_pid_tgid",
    "bpf_xdp_output",
    "bpf_get_netns_cookie",
    "bpf_get_current_ancestor_cgroup_id",
    "bpf_sk_assign",
    "bpf_ktime_get_boot_ns",
    "bpf_seq_printf",
    "bpf_seq_write",
    "bpf_sk_cgroup_id",
    "bpf_sk_ancestor_cgroup_id",
    "bpf_ringbuf_output",
    "bpf_ringbuf_reserve",
    "bpf_ringbuf_submit",
    "bpf_ringbuf_discard",
    "bpf_ringbuf_query",
    "bpf_csum_level",
    "bpf_skc_to_tcp6_sock",
    "bpf_skc_to_tcp_sock",
    "bpf_skc_to_tcp_timewait_sock",
    "bpf_skc_to_tcp_request_sock",
    "bpf_skc_to_udp6_sock",
    "bpf_get_task_stack",
    "bpf_load_hdr_opt",
    "bpf_store_hdr_opt",
    "bpf_reserve_hdr_opt",
    "bpf_inode_storage_get",
    "bpf_inode_storage_delete",
    "bpf_d_path",
    "bpf_copy_from_user",
    "bpf_snprintf_btf",
    "bpf_seq_printf_btf",
    "bpf_skb_cgroup_classid",
    "bpf_redirect_neigh",
    "bpf_per_cpu_ptr",
    "bpf_this_cpu_ptr",
    "bpf_redirect_peer",
    "bpf_task_storage_get",
    "bpf_task_storage_delete",
    "bpf_get_current_task_btf",
    "bpf_bprm_opts_set",
    "bpf_ktime_get_coarse_ns",
    "bpf_ima_inode_hash",
    "bpf_sock_from_file",
    "bpf_check_mtu",
    "bpf_for_each_map_elem",
    "bpf_snprintf",
    "bpf_sys_bpf",
    "bpf_btf_find_by_name_kind",
    "bpf_sys_close",
    "bpf_timer_init",
    "bpf_timer_set_callback",
    "bpf_timer_start",
    "bpf_timer_cancel",
    "bpf_get_func_ip",
    "bpf_get_attach_cookie",
    "bpf_task_pt_regs",
    "bpf_get_branch_snapshot",
    "bpf_trace_vprintk",
    "bpf_skc_to_unix_sock",
    "bpf_kallsyms_lookup_name",
    "bpf_find_vma",
    "bpf_loop",
    "bpf_strncmp",
    "bpf_get_func_arg",
    "bpf_get_func_ret",
    "bpf_get_func_arg_cnt",
    "bpf_get_retval",
    "bpf_set_retval",
    "bpf_xdp_get_buff_len",
    "bpf_xdp_load_bytes",
    "bpf_xdp_store_bytes",
    "bpf_copy_from_user_task",
    "bpf_skb_set_tstamp",
    "bpf_ima_file_hash",
    "bpf_kptr_xchg",
    "bpf_map_lookup_percpu_elem",
    "bpf_skc_to_mptcp_sock",
    "bpf_dynptr_from_mem",
    "bpf_ringbuf_reserve_dynptr",
    "bpf_ringbuf_submit_dynptr",
    "bpf_ringbuf_discard_dynptr",
    "bpf_dynptr_read",
    "bpf_dynptr_write",
    "bpf_dynptr_data",
    "bpf_tcp_raw_gen_syncookie_ipv4",
    "bpf_tcp_raw_gen_syncookie_ipv6",
    "bpf_tcp_raw_check_syncookie_ipv4",
    "bpf_tcp_raw_check_syncookie_ipv6",
    "bpf_ktime_get_tai_ns",
    "bpf_user_ringbuf_drain",
    "bpf_cgrp_storage_get",
    "bpf_cgrp_storage_delete",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_kernel_numbers() {
        assert_eq!(ProgramType::XDP.name(), "xdp");
        assert_eq!(ProgramType::NETFILTER.0, 32);
        assert_eq!(
            ProgramType::from_name("sched_cls"),
            Some(ProgramType::SCHED_CLS)
        );
        assert_eq!(ProgramType(99).name(), "unknown");
        assert_eq!(ProgramType::all().count(), 32);
        assert_eq!(LinkType::SOCKMAP.0, 14);
        assert_eq!(LinkType::TCX.name(), "tcx");
        assert_eq!(helper_name(1), Some("bpf_map_lookup_elem"));
        assert_eq!(helper_name(44), Some("bpf_xdp_adjust_head"));
        assert_eq!(helper_name(211), Some("bpf_cgrp_storage_delete"));
        assert_eq!(helper_name(0), None);
        assert_eq!(helper_name(212), None);
        assert_eq!(helper_id("bpf_ringbuf_output"), Some(130));
        assert_eq!(helper_ids().count(), 211);
        assert_eq!(map_types().last().map(|t| t.name()), Some("arena"));
    }
}
