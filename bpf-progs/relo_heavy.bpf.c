// SPDX-License-Identifier: GPL-2.0
/*
 * relo_heavy.bpf.c — a CO-RE relocation-heavy object for corebpf's
 * relocation benchmark (`cargo xtask bench`, case 2; see benches/).
 *
 * Ten raw tracepoint programs read and query about 250 fields of 20 kernel
 * structures (task_struct, mm_struct, cred, signal_struct, files_struct,
 * fdtable, fs_struct, nsproxy, pid_namespace, css_set, cgroup, kernfs_node,
 * file, path, dentry, qstr, inode, super_block, socket, sock, sock_common,
 * sk_buff, net_device, vm_area_struct), plus type and enum queries: well
 * over 500 CO-RE relocation records of every kind (field byte offset, size,
 * existence, signedness, bitfield shifts, type id/existence/size, enum
 * value existence/value). There is no bpf_core_type_matches(): aya 0.14
 * rejects the whole object on that relocation kind, and the benchmark
 * compares all three loaders on the same object. Many target fields sit inside anonymous
 * structs and unions in the kernel (mm_struct, file.f_path, dentry.d_name,
 * sk_buff's header group, sock_common's address pairs), which is where a
 * CO-RE matcher does real work.
 *
 * The local types below are trimmed views written by hand, the way CO-RE
 * programs declare what they use: each is `preserve_access_index`, names
 * only the fields read, and never needs the kernel's layout. The object
 * builds from this file alone (no generated vmlinux.h), so it is
 * reproducible; it also loads on Linux 6.18, though the benchmark only
 * relocates it. The values read are summed into the return value so that
 * clang keeps every access.
 *
 * Rebuild with `cargo xtask build-progs relo_heavy`.
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s64 s64;
typedef _Bool bool;

#define PAI __attribute__((preserve_access_index))

typedef struct { int counter; } atomic_t;
typedef struct { s64 counter; } atomic64_t;
typedef struct { unsigned int val; } kuid_t;
typedef struct { unsigned int val; } kgid_t;

enum pid_type { PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_PGID, PIDTYPE_SID, PIDTYPE_MAX };
enum tcp_ca_state { TCP_CA_Open, TCP_CA_Disorder, TCP_CA_CWR, TCP_CA_Recovery, TCP_CA_Loss };
enum zone_type { ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE, ZONE_DEVICE };
enum lru_list { LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE, LRU_UNEVICTABLE };
enum net_device_flags { IFF_UP = 1, IFF_BROADCAST = 2, IFF_LOOPBACK = 8, IFF_RUNNING = 64, IFF_PROMISC = 256 };

struct kernfs_node {
	struct kernfs_node *__parent;
	const char *name;
	unsigned int hash;
	unsigned short flags;
	unsigned short mode;
	u64 id;
	void *priv;
} PAI;

struct cgroup;

struct cgroup_subsys_state {
	struct cgroup *cgroup;
	int id;
	unsigned int flags;
	u64 serial_nr;
	struct cgroup_subsys_state *parent;
	int nr_descendants;
} PAI;

struct cgroup {
	struct cgroup_subsys_state self;
	unsigned long flags;
	int level;
	int max_depth;
	int nr_descendants;
	int nr_dying_descendants;
	int max_descendants;
	int nr_populated_csets;
	struct kernfs_node *kn;
	u16 subtree_control;
	u16 subtree_ss_mask;
	struct cgroup *dom_cgrp;
} PAI;

struct css_set {
	struct cgroup_subsys_state *subsys[12];
	struct css_set *dom_cset;
	struct cgroup *dfl_cgrp;
	int nr_tasks;
	struct cgroup *mg_src_cgrp;
	bool dead;
} PAI;

struct qstr {
	u32 hash;
	u32 len;
	u64 hash_len;
	const unsigned char *name;
} PAI;

struct super_block {
	unsigned int s_dev;
	unsigned char s_blocksize_bits;
	unsigned long s_blocksize;
	long long s_maxbytes;
	unsigned long s_flags;
	unsigned long s_iflags;
	unsigned long s_magic;
	struct dentry *s_root;
	int s_count;
	atomic_t s_active;
	void *s_security;
	void *s_fs_info;
	u32 s_time_gran;
	long long s_time_min;
	long long s_time_max;
	char s_id[32];
	unsigned int s_max_links;
	const char *s_subtype;
	int s_stack_depth;
} PAI;

struct inode {
	unsigned short i_mode;
	unsigned short i_opflags;
	kuid_t i_uid;
	kgid_t i_gid;
	unsigned int i_flags;
	struct super_block *i_sb;
	void *i_security;
	unsigned long i_ino;
	unsigned int i_nlink;
	unsigned int i_rdev;
	long long i_size;
	long long i_atime_sec;
	long long i_mtime_sec;
	long long i_ctime_sec;
	u32 i_atime_nsec;
	u32 i_mtime_nsec;
	u32 i_ctime_nsec;
	u32 i_generation;
	unsigned short i_bytes;
	u8 i_blkbits;
	u64 i_blocks;
	unsigned long dirtied_when;
	atomic64_t i_version;
	atomic_t i_count;
	atomic_t i_writecount;
	u32 i_fsnotify_mask;
	void *i_private;
} PAI;

struct dentry {
	unsigned int d_flags;
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
	struct super_block *d_sb;
	unsigned long d_time;
	void *d_fsdata;
} PAI;

struct vfsmount;

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
} PAI;

struct sock;

typedef enum {
	SS_FREE = 0,
	SS_UNCONNECTED,
	SS_CONNECTING,
	SS_CONNECTED,
	SS_DISCONNECTING,
} socket_state;

struct socket {
	socket_state state;
	short type;
	unsigned long flags;
	struct file *file;
	struct sock *sk;
} PAI;

struct file {
	unsigned int f_mode;
	void *f_mapping;
	void *private_data;
	struct inode *f_inode;
	unsigned int f_flags;
	unsigned int f_iocb_flags;
	const struct cred *f_cred;
	struct path f_path;
	long long f_pos;
	void *f_security;
	u32 f_wb_err;
	u32 f_sb_err;
} PAI;

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
	unsigned long *open_fds;
} PAI;

struct files_struct {
	atomic_t count;
	bool resize_in_progress;
	struct fdtable *fdt;
	unsigned int next_fd;
	struct file *fd_array[64];
} PAI;

struct fs_struct {
	int users;
	int umask;
	int in_exec;
	struct path root;
	struct path pwd;
} PAI;

struct pid_namespace {
	unsigned int pid_allocated;
	struct task_struct *child_reaper;
	unsigned int level;
	int pid_max;
	struct pid_namespace *parent;
	int reboot;
	int memfd_noexec_scope;
} PAI;

struct upid {
	int nr;
	struct pid_namespace *ns;
} PAI;

struct pid {
	unsigned int level;
	u64 ino;
	struct dentry *stashed;
	struct upid numbers[1];
} PAI;

struct nsproxy {
	void *uts_ns;
	void *ipc_ns;
	void *mnt_ns;
	struct pid_namespace *pid_ns_for_children;
	void *net_ns;
	void *time_ns;
	void *cgroup_ns;
} PAI;

struct cred {
	kuid_t uid;
	kgid_t gid;
	kuid_t suid;
	kgid_t sgid;
	kuid_t euid;
	kgid_t egid;
	kuid_t fsuid;
	kgid_t fsgid;
	unsigned int securebits;
	unsigned char jit_keyring;
	void *security;
	void *user;
	void *user_ns;
	void *group_info;
} PAI;

struct signal_struct {
	atomic_t live;
	int nr_threads;
	int quick_threads;
	struct task_struct *curr_target;
	int group_exit_code;
	int notify_count;
	struct task_struct *group_exec_task;
	int group_stop_count;
	unsigned int flags;
	unsigned int is_child_subreaper: 1;
	unsigned int has_child_subreaper: 1;
	int leader;
	u64 utime;
	u64 stime;
	u64 cutime;
	u64 cstime;
	u64 gtime;
	u64 cgtime;
	unsigned long nvcsw;
	unsigned long nivcsw;
	unsigned long cnvcsw;
	unsigned long cnivcsw;
	unsigned long min_flt;
	unsigned long maj_flt;
	unsigned long maxrss;
	int oom_score_adj;
} PAI;

struct vm_area_struct;

struct mm_struct {
	atomic_t mm_count;
	unsigned long mmap_base;
	unsigned long mmap_legacy_base;
	unsigned long task_size;
	atomic_t mm_users;
	int map_count;
	unsigned long hiwater_rss;
	unsigned long hiwater_vm;
	unsigned long total_vm;
	unsigned long locked_vm;
	unsigned long data_vm;
	unsigned long exec_vm;
	unsigned long stack_vm;
	unsigned long start_code;
	unsigned long end_code;
	unsigned long start_data;
	unsigned long end_data;
	unsigned long start_brk;
	unsigned long brk;
	unsigned long start_stack;
	unsigned long arg_start;
	unsigned long arg_end;
	unsigned long env_start;
	unsigned long env_end;
	unsigned long saved_auxv[56];
	struct task_struct *owner;
	void *user_ns;
	struct file *exe_file;
	int numa_scan_seq;
} PAI;

struct vm_area_struct {
	unsigned long vm_start;
	unsigned long vm_end;
	struct mm_struct *vm_mm;
	unsigned long vm_flags;
	unsigned long vm_pgoff;
	struct file *vm_file;
	void *vm_private_data;
} PAI;

struct task_struct {
	unsigned int __state;
	unsigned int saved_state;
	void *stack;
	unsigned int flags;
	unsigned int ptrace;
	int on_cpu;
	unsigned int wakee_flips;
	int recent_used_cpu;
	int wake_cpu;
	int on_rq;
	int prio;
	int static_prio;
	int normal_prio;
	unsigned int rt_priority;
	unsigned int policy;
	int nr_cpus_allowed;
	struct mm_struct *mm;
	struct mm_struct *active_mm;
	int exit_state;
	int exit_code;
	int exit_signal;
	int pdeath_signal;
	unsigned long jobctl;
	unsigned int personality;
	unsigned int sched_reset_on_fork: 1;
	unsigned int in_execve: 1;
	unsigned int in_iowait: 1;
	unsigned int frozen: 1;
	unsigned long atomic_flags;
	int pid;
	int tgid;
	unsigned long stack_canary;
	struct task_struct *real_parent;
	struct task_struct *parent;
	struct task_struct *group_leader;
	struct pid *thread_pid;
	u64 utime;
	u64 stime;
	u64 gtime;
	unsigned long nvcsw;
	unsigned long nivcsw;
	u64 start_time;
	u64 start_boottime;
	unsigned long min_flt;
	unsigned long maj_flt;
	const struct cred *ptracer_cred;
	const struct cred *real_cred;
	const struct cred *cred;
	char comm[16];
	unsigned long last_switch_count;
	unsigned long last_switch_time;
	struct fs_struct *fs;
	struct files_struct *files;
	struct nsproxy *nsproxy;
	struct signal_struct *signal;
	unsigned long sas_ss_sp;
	unsigned long sas_ss_size;
	unsigned int sas_ss_flags;
	kuid_t loginuid;
	unsigned int sessionid;
	u64 parent_exec_id;
	u64 self_exec_id;
	void *journal_info;
	unsigned long ptrace_message;
	unsigned int psi_flags;
	struct css_set *cgroups;
	int numa_scan_seq;
	unsigned int numa_scan_period;
	int numa_preferred_nid;
	int nr_dirtied;
	int nr_dirtied_pause;
	u64 timer_slack_ns;
	u64 default_timer_slack_ns;
	int pagefault_disabled;
	void *security;
} PAI;

struct sock_common {
	u32 skc_daddr;
	u32 skc_rcv_saddr;
	unsigned int skc_hash;
	u16 skc_dport;
	u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	unsigned char skc_reuse: 4;
	unsigned char skc_reuseport: 1;
	unsigned char skc_ipv6only: 1;
	int skc_bound_dev_if;
	unsigned short skc_tx_queue_mapping;
	unsigned short skc_rx_queue_mapping;
	int skc_incoming_cpu;
	u32 skc_rxhash;
} PAI;

struct sock {
	struct sock_common __sk_common;
	int sk_rx_dst_ifindex;
	u32 sk_rx_dst_cookie;
	unsigned int sk_ll_usec;
	unsigned int sk_napi_id;
	int sk_rcvbuf;
	long sk_rcvtimeo;
	int sk_rcvlowat;
	int sk_err;
	struct socket *sk_socket;
	int sk_forward_alloc;
	u32 sk_tsflags;
	int sk_write_pending;
	int sk_err_soft;
	int sk_wmem_queued;
	unsigned long sk_pacing_rate;
	unsigned long sk_max_pacing_rate;
	long sk_sndtimeo;
	u32 sk_priority;
	u32 sk_mark;
	kuid_t sk_uid;
	u16 sk_protocol;
	u16 sk_type;
	u16 sk_gso_type;
	u16 sk_gso_max_segs;
	unsigned int sk_gso_max_size;
	u32 sk_txhash;
	int sk_sndbuf;
	u8 sk_pacing_shift;
	u8 sk_shutdown;
	unsigned long sk_lingertime;
	u32 sk_ack_backlog;
	u32 sk_max_ack_backlog;
	unsigned long sk_ino;
	struct pid *sk_peer_pid;
	const struct cred *sk_peer_cred;
	void *sk_user_data;
} PAI;

struct net_device {
	unsigned int real_num_tx_queues;
	unsigned int gso_max_size;
	u16 gso_max_segs;
	unsigned int mtu;
	unsigned short needed_headroom;
	unsigned long state;
	unsigned int flags;
	unsigned short hard_header_len;
	int ifindex;
	unsigned int real_num_rx_queues;
	unsigned int gro_max_size;
	char name[16];
	unsigned long mem_end;
	unsigned long mem_start;
	unsigned long base_addr;
	unsigned short gflags;
	unsigned short needed_tailroom;
	unsigned int min_mtu;
	unsigned int max_mtu;
	unsigned short type;
	unsigned char addr_len;
	int group;
	unsigned int operstate;
	int irq;
	unsigned int promiscuity;
	unsigned int allmulti;
	unsigned int num_rx_queues;
	unsigned int num_tx_queues;
	unsigned int tx_queue_len;
	int watchdog_timeo;
} PAI;

struct sk_buff {
	struct sk_buff *next;
	struct sk_buff *prev;
	struct net_device *dev;
	struct sock *sk;
	s64 tstamp;
	char cb[48];
	unsigned int len;
	unsigned int data_len;
	u16 mac_len;
	u16 hdr_len;
	u16 queue_mapping;
	u8 cloned: 1;
	u8 nohdr: 1;
	u8 fclone: 2;
	u8 pfmemalloc: 1;
	u8 active_extensions;
	u8 pkt_type: 3;
	u8 ip_summed: 2;
	u8 csum_level: 2;
	u8 l4_hash: 1;
	u16 tc_index;
	u16 alloc_cpu;
	u32 csum;
	u32 priority;
	int skb_iif;
	u32 hash;
	u16 vlan_proto;
	u16 vlan_tci;
	unsigned int napi_id;
	u32 secmark;
	u32 mark;
	u16 inner_transport_header;
	u16 inner_network_header;
	u16 inner_mac_header;
	u16 protocol;
	u16 transport_header;
	u16 network_header;
	u16 mac_header;
	unsigned int tail;
	unsigned int end;
	unsigned char *head;
	unsigned char *data;
	unsigned int truesize;
} PAI;

/* Types that do not exist in any kernel: their relocations resolve to 0. */
struct task_struct___nonexistent {
	int no_such_field;
} PAI;

struct bpf_raw_tracepoint_args {
	u64 args[0];
};

/*
 * Field lists. R: scalar fields read through BPF_CORE_READ (one byte-offset
 * relocation each); Q: fields queried for existence, size and offset
 * (three relocations each, with no memory access).
 */
#define TASK_R(X) \
	X(__state) X(saved_state) X(flags) X(ptrace) X(on_cpu) X(wakee_flips) \
	X(recent_used_cpu) X(wake_cpu) X(on_rq) X(prio) X(static_prio) \
	X(normal_prio) X(rt_priority) X(policy) X(nr_cpus_allowed) \
	X(exit_state) X(exit_code) X(exit_signal) X(pdeath_signal) X(jobctl) \
	X(personality) X(atomic_flags) X(pid) X(tgid) X(stack_canary) X(utime) \
	X(stime) X(gtime) X(nvcsw) X(nivcsw) X(start_time) X(start_boottime) \
	X(min_flt) X(maj_flt) X(last_switch_count) X(last_switch_time) \
	X(sas_ss_sp) X(sas_ss_size) X(sas_ss_flags) X(sessionid) \
	X(parent_exec_id) X(self_exec_id) X(ptrace_message) X(psi_flags) \
	X(numa_scan_seq) X(numa_scan_period) X(numa_preferred_nid) \
	X(nr_dirtied) X(nr_dirtied_pause) X(timer_slack_ns) \
	X(default_timer_slack_ns) X(pagefault_disabled)

#define TASK_Q(X) \
	X(stack) X(mm) X(active_mm) X(real_parent) X(parent) X(group_leader) \
	X(thread_pid) X(ptracer_cred) X(real_cred) X(cred) X(comm) X(fs) \
	X(files) X(nsproxy) X(signal) X(loginuid) X(journal_info) X(cgroups) \
	X(security) X(pid) X(tgid) X(__state) X(flags) X(prio) X(utime) \
	X(start_time) X(exit_code) X(policy)

#define MM_R(X) \
	X(mmap_base) X(mmap_legacy_base) X(task_size) X(map_count) \
	X(hiwater_rss) X(hiwater_vm) X(total_vm) X(locked_vm) X(data_vm) \
	X(exec_vm) X(stack_vm) X(start_code) X(end_code) X(start_data) \
	X(end_data) X(start_brk) X(brk) X(start_stack) X(arg_start) X(arg_end) \
	X(env_start) X(env_end) X(numa_scan_seq)

#define MM_Q(X) \
	X(mm_count) X(mm_users) X(saved_auxv) X(owner) X(user_ns) X(exe_file) \
	X(total_vm) X(start_code) X(brk)

#define SIG_R(X) \
	X(nr_threads) X(quick_threads) X(group_exit_code) X(notify_count) \
	X(group_stop_count) X(flags) X(leader) X(utime) X(stime) X(cutime) \
	X(cstime) X(gtime) X(cgtime) X(nvcsw) X(nivcsw) X(cnvcsw) X(cnivcsw) \
	X(min_flt) X(maj_flt) X(maxrss) X(oom_score_adj)

#define CRED_R(X) \
	X(uid.val) X(gid.val) X(suid.val) X(sgid.val) X(euid.val) X(egid.val) \
	X(fsuid.val) X(fsgid.val) X(securebits) X(jit_keyring)

#define CRED_Q(X) \
	X(uid) X(gid) X(euid) X(security) X(user) X(user_ns) X(group_info)

#define FILE_R(X) \
	X(f_mode) X(f_flags) X(f_iocb_flags) X(f_pos) X(f_wb_err) X(f_sb_err)

#define FILE_Q(X) \
	X(f_mapping) X(private_data) X(f_inode) X(f_cred) X(f_path) \
	X(f_security) X(f_pos) X(f_flags)

#define INODE_R(X) \
	X(i_mode) X(i_opflags) X(i_uid.val) X(i_gid.val) X(i_flags) X(i_ino) \
	X(i_nlink) X(i_rdev) X(i_size) X(i_atime_sec) X(i_mtime_sec) \
	X(i_ctime_sec) X(i_atime_nsec) X(i_mtime_nsec) X(i_ctime_nsec) \
	X(i_generation) X(i_bytes) X(i_blkbits) X(i_blocks) X(dirtied_when) \
	X(i_version.counter) X(i_count.counter) X(i_writecount.counter) \
	X(i_fsnotify_mask)

#define INODE_Q(X) \
	X(i_sb) X(i_security) X(i_private) X(i_uid) X(i_version) X(i_size) \
	X(i_mode)

#define SB_R(X) \
	X(s_dev) X(s_blocksize_bits) X(s_blocksize) X(s_maxbytes) X(s_flags) \
	X(s_iflags) X(s_magic) X(s_count) X(s_active.counter) X(s_time_gran) \
	X(s_time_min) X(s_time_max) X(s_max_links) X(s_stack_depth)

#define SB_Q(X) \
	X(s_root) X(s_security) X(s_fs_info) X(s_id) X(s_subtype) X(s_magic)

#define DENTRY_R(X) \
	X(d_flags) X(d_name.hash) X(d_name.len) X(d_name.hash_len) X(d_time)

#define DENTRY_Q(X) \
	X(d_parent) X(d_name) X(d_inode) X(d_sb) X(d_fsdata)

#define SKC_R(X) \
	X(skc_daddr) X(skc_rcv_saddr) X(skc_hash) X(skc_dport) X(skc_num) \
	X(skc_family) X(skc_state) X(skc_bound_dev_if) X(skc_tx_queue_mapping) \
	X(skc_rx_queue_mapping) X(skc_incoming_cpu) X(skc_rxhash)

#define SOCK_R(X) \
	X(sk_rx_dst_ifindex) X(sk_rx_dst_cookie) X(sk_ll_usec) X(sk_napi_id) \
	X(sk_rcvbuf) X(sk_rcvtimeo) X(sk_rcvlowat) X(sk_err) \
	X(sk_forward_alloc) X(sk_tsflags) X(sk_write_pending) X(sk_err_soft) \
	X(sk_wmem_queued) X(sk_pacing_rate) X(sk_max_pacing_rate) \
	X(sk_sndtimeo) X(sk_priority) X(sk_mark) X(sk_uid.val) X(sk_protocol) \
	X(sk_type) X(sk_gso_type) X(sk_gso_max_segs) X(sk_gso_max_size) \
	X(sk_txhash) X(sk_sndbuf) X(sk_pacing_shift) X(sk_shutdown) \
	X(sk_lingertime) X(sk_ack_backlog) X(sk_max_ack_backlog) X(sk_ino)

#define SOCK_Q(X) \
	X(__sk_common) X(sk_socket) X(sk_peer_pid) X(sk_peer_cred) \
	X(sk_user_data) X(sk_mark) X(sk_protocol)

#define SKB_R(X) \
	X(tstamp) X(len) X(data_len) X(mac_len) X(hdr_len) X(queue_mapping) \
	X(active_extensions) X(tc_index) X(alloc_cpu) X(csum) X(priority) \
	X(skb_iif) X(hash) X(vlan_proto) X(vlan_tci) X(napi_id) X(secmark) \
	X(mark) X(inner_transport_header) X(inner_network_header) \
	X(inner_mac_header) X(protocol) X(transport_header) X(network_header) \
	X(mac_header) X(tail) X(end) X(truesize)

#define SKB_Q(X) \
	X(next) X(prev) X(dev) X(sk) X(cb) X(head) X(data) X(len) X(protocol) \
	X(mark)

#define SKB_BITS(X) \
	X(cloned) X(nohdr) X(fclone) X(pfmemalloc) X(pkt_type) X(ip_summed) \
	X(csum_level) X(l4_hash)

#define NETDEV_R(X) \
	X(real_num_tx_queues) X(gso_max_size) X(gso_max_segs) X(mtu) \
	X(needed_headroom) X(state) X(flags) X(hard_header_len) X(ifindex) \
	X(real_num_rx_queues) X(gro_max_size) X(mem_end) X(mem_start) \
	X(base_addr) X(gflags) X(needed_tailroom) X(min_mtu) X(max_mtu) \
	X(type) X(addr_len) X(group) X(operstate) X(irq) X(promiscuity) \
	X(allmulti) X(num_rx_queues) X(num_tx_queues) X(tx_queue_len) \
	X(watchdog_timeo)

#define CGROUP_R(X) \
	X(flags) X(level) X(max_depth) X(nr_descendants) \
	X(nr_dying_descendants) X(max_descendants) X(nr_populated_csets) \
	X(subtree_control) X(subtree_ss_mask) X(self.id) X(self.flags) \
	X(self.serial_nr) X(self.nr_descendants)

#define VMA_R(X) X(vm_start) X(vm_end) X(vm_flags) X(vm_pgoff)

/* One read: a byte-offset relocation on the address given to probe_read. */
#define RD(p, f) d += (u64)BPF_CORE_READ(p, f);
#define READ_TASK(f) RD(t, f)
#define READ_MM(f) RD(mm, f)
#define READ_SIG(f) RD(sig, f)
#define READ_CRED(f) RD(cred, f)
#define READ_FILE(f) RD(file, f)
#define READ_INODE(f) RD(inode, f)
#define READ_SB(f) RD(sb, f)
#define READ_DENTRY(f) RD(dentry, f)
#define READ_SKC(f) RD(skc, f)
#define READ_SOCK(f) RD(sk, f)
#define READ_SKB(f) RD(skb, f)
#define READ_NETDEV(f) RD(dev, f)
#define READ_CGROUP(f) RD(cgrp, f)
#define READ_VMA(f) RD(vma, f)

/* Three field queries: exists, byte size, byte offset. */
#define QRY(p, f) \
	d += bpf_core_field_exists(p->f); \
	d += bpf_core_field_size(p->f) << 8; \
	d += (u64)bpf_core_field_offset(p->f) << 16;
/* Signedness, for integer fields only. */
#define SGN(p, f) d += (u64)__builtin_preserve_field_info(p->f, BPF_FIELD_SIGNED) << 40;
#define SGN_TASK(f) SGN(t, f)
#define SGN_SOCK_SKC(f) SGN(skc, f)
#define SGN_NETDEV(f) SGN(dev, f)
#define QRY_TASK(f) QRY(t, f)
#define QRY_MM(f) QRY(mm, f)
#define QRY_CRED(f) QRY(cred, f)
#define QRY_FILE(f) QRY(file, f)
#define QRY_INODE(f) QRY(inode, f)
#define QRY_SB(f) QRY(sb, f)
#define QRY_DENTRY(f) QRY(dentry, f)
#define QRY_SOCK(f) QRY(sk, f)
#define QRY_SKB(f) QRY(skb, f)

/* A bitfield read: byte offset, byte size, left and right shift, signedness. */
#define BITS_SKB(f) d += BPF_CORE_READ_BITFIELD_PROBED(skb, f);

static __always_inline struct task_struct *current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

SEC("raw_tp/sys_enter")
int task_fields(void *ctx)
{
	struct task_struct *t = current_task();
	u64 d = 0;

	TASK_R(READ_TASK)
	d += BPF_CORE_READ_BITFIELD_PROBED(t, sched_reset_on_fork);
	d += BPF_CORE_READ_BITFIELD_PROBED(t, in_execve);
	d += BPF_CORE_READ_BITFIELD_PROBED(t, in_iowait);
	d += BPF_CORE_READ_BITFIELD_PROBED(t, frozen);
	return d & 0x7fffffff;
}

SEC("raw_tp/sys_enter")
int task_queries(void *ctx)
{
	struct task_struct *t = current_task();
	u64 d = 0;

	TASK_Q(QRY_TASK)
	TASK_R(SGN_TASK)
	d += bpf_core_field_exists(((struct task_struct___nonexistent *)t)->no_such_field);
	return d & 0x7fffffff;
}

SEC("raw_tp/sys_enter")
int task_chains(void *ctx)
{
	struct task_struct *t = current_task();
	u64 d = 0;

	d += BPF_CORE_READ(t, real_parent, pid);
	d += BPF_CORE_READ(t, real_parent, tgid);
	d += BPF_CORE_READ(t, real_parent, real_parent, pid);
	d += BPF_CORE_READ(t, parent, flags);
	d += BPF_CORE_READ(t, group_leader, pid);
	d += BPF_CORE_READ(t, group_leader, start_time);
	d += BPF_CORE_READ(t, mm, total_vm);
	d += BPF_CORE_READ(t, mm, mm_users.counter);
	d += BPF_CORE_READ(t, mm, exe_file, f_flags);
	d += BPF_CORE_READ(t, mm, exe_file, f_inode, i_ino);
	d += (u64)BPF_CORE_READ(t, mm, exe_file, f_path.dentry, d_name.name);
	d += BPF_CORE_READ(t, mm, owner, pid);
	d += BPF_CORE_READ(t, active_mm, map_count);
	d += BPF_CORE_READ(t, cred, uid.val);
	d += BPF_CORE_READ(t, cred, euid.val);
	d += BPF_CORE_READ(t, real_cred, gid.val);
	d += BPF_CORE_READ(t, ptracer_cred, fsuid.val);
	d += BPF_CORE_READ(t, signal, nr_threads);
	d += BPF_CORE_READ(t, signal, curr_target, pid);
	d += BPF_CORE_READ(t, signal, group_exec_task, tgid);
	d += BPF_CORE_READ(t, files, fdt, max_fds);
	d += (u64)BPF_CORE_READ(t, files, fdt, fd);
	d += BPF_CORE_READ(t, files, next_fd);
	d += BPF_CORE_READ(t, files, count.counter);
	d += BPF_CORE_READ(t, fs, umask);
	d += BPF_CORE_READ(t, fs, users);
	d += (u64)BPF_CORE_READ(t, fs, pwd.dentry, d_name.name);
	d += BPF_CORE_READ(t, fs, pwd.dentry, d_inode, i_ino);
	d += BPF_CORE_READ(t, fs, root.dentry, d_sb, s_magic);
	d += BPF_CORE_READ(t, nsproxy, pid_ns_for_children, level);
	d += BPF_CORE_READ(t, nsproxy, pid_ns_for_children, pid_allocated);
	d += BPF_CORE_READ(t, nsproxy, pid_ns_for_children, child_reaper, pid);
	d += BPF_CORE_READ(t, nsproxy, pid_ns_for_children, parent, level);
	d += BPF_CORE_READ(t, thread_pid, level);
	d += BPF_CORE_READ(t, thread_pid, ino);
	d += BPF_CORE_READ(t, thread_pid, numbers[0].nr);
	d += BPF_CORE_READ(t, thread_pid, numbers[0].ns, level);
	d += BPF_CORE_READ(t, cgroups, nr_tasks);
	d += BPF_CORE_READ(t, cgroups, dfl_cgrp, level);
	d += BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
	d += (u64)BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, name);
	d += BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, __parent, id);
	d += BPF_CORE_READ(t, cgroups, subsys[0], id);
	d += BPF_CORE_READ(t, cgroups, subsys[1], cgroup, level);
	d += BPF_CORE_READ(t, cgroups, dom_cset, nr_tasks);
	d += BPF_CORE_READ(t, loginuid.val);
	return d & 0x7fffffff;
}

SEC("raw_tp/sys_enter")
int mm_and_signal(void *ctx)
{
	struct task_struct *t = current_task();
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	struct signal_struct *sig = BPF_CORE_READ(t, signal);
	const struct cred *cred = BPF_CORE_READ(t, cred);
	u64 d = 0;

	MM_R(READ_MM)
	MM_Q(QRY_MM)
	SIG_R(READ_SIG)
	d += BPF_CORE_READ_BITFIELD_PROBED(sig, is_child_subreaper);
	d += BPF_CORE_READ_BITFIELD_PROBED(sig, has_child_subreaper);
	d += BPF_CORE_READ(sig, live.counter);
	CRED_R(READ_CRED)
	CRED_Q(QRY_CRED)
	return d & 0x7fffffff;
}

SEC("raw_tp/sys_enter")
int vfs_objects(void *ctx)
{
	struct task_struct *t = current_task();
	struct file *file = BPF_CORE_READ(t, mm, exe_file);
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
	struct super_block *sb = BPF_CORE_READ(inode, i_sb);
	u64 d = 0;

	FILE_R(READ_FILE)
	FILE_Q(QRY_FILE)
	INODE_R(READ_INODE)
	INODE_Q(QRY_INODE)
	SB_R(READ_SB)
	SB_Q(QRY_SB)
	DENTRY_R(READ_DENTRY)
	DENTRY_Q(QRY_DENTRY)
	d += (u64)BPF_CORE_READ(dentry, d_parent, d_name.name);
	d += BPF_CORE_READ(dentry, d_parent, d_inode, i_ino);
	d += BPF_CORE_READ(dentry, d_sb, s_root, d_flags);
	d += (u64)BPF_CORE_READ(file, f_path.mnt);
	d += BPF_CORE_READ(file, f_cred, uid.val);
	return d & 0x7fffffff;
}

/* The socket behind fd 3 of the current task, if it is one. */
SEC("raw_tp/sys_enter")
int socket_objects(void *ctx)
{
	struct task_struct *t = current_task();
	struct file **fds = BPF_CORE_READ(t, files, fdt, fd);
	struct file *file = NULL;
	struct socket *sock;
	struct sock *sk;
	struct sock_common *skc;
	u64 d = 0;

	bpf_probe_read_kernel(&file, sizeof(file), fds + 3);
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	skc = &sk->__sk_common;
	d += BPF_CORE_READ(sock, state);
	d += BPF_CORE_READ(sock, type);
	d += BPF_CORE_READ(sock, flags);
	d += BPF_CORE_READ(sock, file, f_flags);
	SKC_R(READ_SKC)
	d += BPF_CORE_READ_BITFIELD_PROBED(skc, skc_reuse);
	d += BPF_CORE_READ_BITFIELD_PROBED(skc, skc_reuseport);
	d += BPF_CORE_READ_BITFIELD_PROBED(skc, skc_ipv6only);
	SOCK_R(READ_SOCK)
	SOCK_Q(QRY_SOCK)
	SKC_R(SGN_SOCK_SKC)
	d += BPF_CORE_READ(sk, sk_socket, type);
	d += BPF_CORE_READ(sk, sk_peer_pid, level);
	d += BPF_CORE_READ(sk, sk_peer_cred, uid.val);
	d += BPF_CORE_READ(sk, __sk_common.skc_family);
	return d & 0x7fffffff;
}

/* raw_tp/kfree_skb: args[0] is the sk_buff being freed. */
SEC("raw_tp/kfree_skb")
int skb_fields(struct bpf_raw_tracepoint_args *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx->args[0];
	u64 d = 0;

	SKB_R(READ_SKB)
	SKB_Q(QRY_SKB)
	SKB_BITS(BITS_SKB)
	d += BPF_CORE_READ(skb, sk, sk_protocol);
	d += BPF_CORE_READ(skb, sk, __sk_common.skc_num);
	d += BPF_CORE_READ(skb, sk, sk_socket, file, f_inode, i_ino);
	d += BPF_CORE_READ(skb, dev, ifindex);
	d += BPF_CORE_READ(skb, next, len);
	return d & 0x7fffffff;
}

SEC("raw_tp/kfree_skb")
int netdev_fields(struct bpf_raw_tracepoint_args *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx->args[0];
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	u64 d = 0;

	NETDEV_R(READ_NETDEV)
	NETDEV_R(SGN_NETDEV)
	d += bpf_core_field_size(dev->name);
	d += bpf_core_field_offset(dev->name);
	return d & 0x7fffffff;
}

SEC("raw_tp/sys_enter")
int cgroup_and_vma(void *ctx)
{
	struct task_struct *t = current_task();
	struct cgroup *cgrp = BPF_CORE_READ(t, cgroups, dfl_cgrp);
	struct vm_area_struct *vma = (void *)BPF_CORE_READ(t, mm, mmap_base);
	u64 d = 0;

	CGROUP_R(READ_CGROUP)
	VMA_R(READ_VMA)
	d += BPF_CORE_READ(vma, vm_mm, map_count);
	d += BPF_CORE_READ(vma, vm_file, f_inode, i_ino);
	d += BPF_CORE_READ(cgrp, dom_cgrp, level);
	d += BPF_CORE_READ(cgrp, kn, flags);
	d += BPF_CORE_READ(cgrp, kn, mode);
	d += BPF_CORE_READ(cgrp, kn, hash);
	d += (u64)BPF_CORE_READ(cgrp, kn, priv);
	d += BPF_CORE_READ(cgrp, self.parent, id);
	d += BPF_CORE_READ(cgrp, self.cgroup, level);
	return d & 0x7fffffff;
}

SEC("raw_tp/sys_enter")
int types_and_enums(void *ctx)
{
	u64 d = 0;

	d += bpf_core_type_exists(struct task_struct);
	d += bpf_core_type_exists(struct mm_struct);
	d += bpf_core_type_exists(struct file);
	d += bpf_core_type_exists(struct inode);
	d += bpf_core_type_exists(struct sk_buff);
	d += bpf_core_type_exists(struct sock);
	d += bpf_core_type_exists(struct net_device);
	d += bpf_core_type_exists(struct task_struct___nonexistent);
	d += bpf_core_type_size(struct task_struct) << 1;
	d += bpf_core_type_size(struct mm_struct) << 2;
	d += bpf_core_type_size(struct cred) << 3;
	d += bpf_core_type_size(struct file) << 4;
	d += bpf_core_type_size(struct inode) << 5;
	d += bpf_core_type_size(struct dentry) << 6;
	d += bpf_core_type_size(struct super_block) << 7;
	d += bpf_core_type_size(struct sk_buff) << 8;
	d += bpf_core_type_size(struct sock) << 9;
	d += bpf_core_type_size(struct sock_common) << 10;
	d += bpf_core_type_size(struct socket) << 11;
	d += bpf_core_type_size(struct net_device) << 12;
	d += bpf_core_type_size(struct signal_struct) << 13;
	d += bpf_core_type_size(struct css_set) << 14;
	d += bpf_core_type_size(struct cgroup) << 15;
	d += bpf_core_type_id_kernel(struct task_struct);
	d += bpf_core_type_id_kernel(struct file);
	d += bpf_core_type_id_kernel(struct sk_buff);
	d += bpf_core_type_id_kernel(struct sock);
	d += bpf_core_enum_value_exists(enum pid_type, PIDTYPE_TGID);
	d += bpf_core_enum_value(enum pid_type, PIDTYPE_PID);
	d += bpf_core_enum_value(enum pid_type, PIDTYPE_TGID) << 1;
	d += bpf_core_enum_value(enum pid_type, PIDTYPE_PGID) << 2;
	d += bpf_core_enum_value(enum pid_type, PIDTYPE_SID) << 3;
	d += bpf_core_enum_value(enum pid_type, PIDTYPE_MAX) << 4;
	d += bpf_core_enum_value(enum tcp_ca_state, TCP_CA_Open) << 5;
	d += bpf_core_enum_value(enum tcp_ca_state, TCP_CA_Disorder) << 6;
	d += bpf_core_enum_value(enum tcp_ca_state, TCP_CA_CWR) << 7;
	d += bpf_core_enum_value(enum tcp_ca_state, TCP_CA_Recovery) << 8;
	d += bpf_core_enum_value(enum tcp_ca_state, TCP_CA_Loss) << 9;
	d += bpf_core_enum_value(enum zone_type, ZONE_DMA) << 10;
	d += bpf_core_enum_value(enum zone_type, ZONE_DMA32) << 11;
	d += bpf_core_enum_value(enum zone_type, ZONE_NORMAL) << 12;
	d += bpf_core_enum_value(enum zone_type, ZONE_MOVABLE) << 13;
	d += bpf_core_enum_value_exists(enum zone_type, ZONE_DEVICE) << 14;
	d += bpf_core_enum_value(enum lru_list, LRU_INACTIVE_ANON) << 15;
	d += bpf_core_enum_value(enum lru_list, LRU_ACTIVE_ANON) << 16;
	d += bpf_core_enum_value(enum lru_list, LRU_INACTIVE_FILE) << 17;
	d += bpf_core_enum_value(enum lru_list, LRU_ACTIVE_FILE) << 18;
	d += bpf_core_enum_value(enum lru_list, LRU_UNEVICTABLE) << 19;
	d += bpf_core_enum_value(enum net_device_flags, IFF_UP) << 20;
	d += bpf_core_enum_value(enum net_device_flags, IFF_BROADCAST) << 21;
	d += bpf_core_enum_value(enum net_device_flags, IFF_LOOPBACK) << 22;
	d += bpf_core_enum_value(enum net_device_flags, IFF_RUNNING) << 23;
	d += bpf_core_enum_value(enum net_device_flags, IFF_PROMISC) << 24;
	return d & 0x7fffffff;
}

char LICENSE[] SEC("license") = "GPL";
