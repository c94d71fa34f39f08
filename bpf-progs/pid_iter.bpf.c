// SPDX-License-Identifier: GPL-2.0
/*
 * pid_iter.bpf.c — which processes hold descriptors of BPF programs, maps and
 * links. The library embeds this object: `corebpf prog|map|link list` (and
 * `corebpf::inspect`) read the holders from it in one walk of every process's
 * open files, instead of reading one /proc/PID/fd link per descriptor (about
 * 3 µs each: a lookup that proc re-creates every time).
 *
 *   iter/task_file  one `struct holder` (binary, bpf_seq_write) per open
 *                   descriptor of a BPF program, map or link: the holding
 *                   process, the descriptor, the object's kind and id, and the
 *                   process's name.
 *
 * A BPF object's file is an anonymous inode (the anon_inodefs superblock) whose
 * dentry is named after the kind: "bpf-prog", "bpf-map", "bpf_link" (what
 * /proc/PID/fd shows as anon_inode:bpf-prog, ...); its private_data is the
 * object. The structs below name only the members read; CO-RE finds them in the
 * running kernel's BTF.
 *
 * Rebuild with `cargo xtask build-progs pid_iter`; never edit the .bpf.o by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define ANON_INODE_FS_MAGIC 0x09041934

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));

struct super_block {
	unsigned long s_magic;
} __attribute__((preserve_access_index));

struct inode {
	struct super_block *i_sb;
} __attribute__((preserve_access_index));

struct qstr {
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct dentry {
	struct qstr d_name;
} __attribute__((preserve_access_index));

struct path {
	struct dentry *dentry;
} __attribute__((preserve_access_index));

struct file {
	struct path f_path;
	struct inode *f_inode;
	void *private_data;
} __attribute__((preserve_access_index));

struct task_struct {
	int tgid;
	char comm[16];
	struct task_struct *group_leader;
} __attribute__((preserve_access_index));

struct bpf_prog_aux {
	__u32 id;
} __attribute__((preserve_access_index));

struct bpf_prog {
	struct bpf_prog_aux *aux;
} __attribute__((preserve_access_index));

struct bpf_map {
	__u32 id;
} __attribute__((preserve_access_index));

struct bpf_link {
	__u32 id;
} __attribute__((preserve_access_index));

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
};

/* The kinds, as `struct holder` gives them. */
#define HOLDER_PROG 1
#define HOLDER_MAP 2
#define HOLDER_LINK 3

/* One descriptor of a BPF object; 32 bytes, no padding. */
struct holder {
	__u32 pid;
	__u32 fd;
	__u32 kind;
	__u32 id;
	char comm[16];
};

/* The dentry name's kind: "bpf-prog", "bpf-map", "bpf_link", else 0. */
static __always_inline __u32 kind_of(const char *n)
{
	if (n[0] != 'b' || n[1] != 'p' || n[2] != 'f')
		return 0;
	if (n[3] == '-' && n[4] == 'p' && n[5] == 'r' && n[6] == 'o' && n[7] == 'g' && !n[8])
		return HOLDER_PROG;
	if (n[3] == '-' && n[4] == 'm' && n[5] == 'a' && n[6] == 'p' && !n[7])
		return HOLDER_MAP;
	if (n[3] == '_' && n[4] == 'l' && n[5] == 'i' && n[6] == 'n' && n[7] == 'k' && !n[8])
		return HOLDER_LINK;
	return 0;
}

SEC("iter/task_file")
int holders(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct holder h = {};
	char name[9] = {};
	void *obj;

	if (!task || !file)
		return 0;
	/* Direct loads through the kernel's typed pointers (the verifier turns them
	 * into faulting-safe loads): no helper call for the files most processes
	 * hold, which are not anonymous inodes. */
	if (file->f_inode->i_sb->s_magic != ANON_INODE_FS_MAGIC)
		return 0;
	if (bpf_probe_read_kernel_str(name, sizeof(name), file->f_path.dentry->d_name.name) < 0)
		return 0;
	h.kind = kind_of(name);
	if (!h.kind)
		return 0;
	obj = file->private_data;
	if (h.kind == HOLDER_PROG)
		h.id = BPF_CORE_READ((struct bpf_prog *)obj, aux, id);
	else if (h.kind == HOLDER_MAP)
		h.id = BPF_CORE_READ((struct bpf_map *)obj, id);
	else
		h.id = BPF_CORE_READ((struct bpf_link *)obj, id);
	h.pid = task->tgid;
	h.fd = ctx->fd;
	BPF_CORE_READ_STR_INTO(&h.comm, task, group_leader, comm);
	bpf_seq_write(ctx->meta->seq, &h, sizeof(h));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
