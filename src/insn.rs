//! The BPF instruction encoding shared by the object model, the relocations and `sys`.
//!
//! Pure data: nothing here touches the kernel.

/// One 8-byte BPF instruction, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Insn {
    /// Opcode: class, size/source and operation bits.
    pub code: u8,
    /// Destination register in the low nibble, source register in the high nibble.
    pub regs: u8,
    /// Signed 16-bit offset.
    pub off: i16,
    /// Signed 32-bit immediate.
    pub imm: i32,
}

/// Size of one instruction in bytes.
pub const INSN_SIZE: usize = 8;

/// Instruction classes (low three bits of `code`).
pub mod class {
    #![allow(dead_code)] // the complete uapi table, used or not
    /// Load from immediate (`ld_imm64`).
    pub const LD: u8 = 0x00;
    /// Load from memory into a register.
    pub const LDX: u8 = 0x01;
    /// Store an immediate to memory.
    pub const ST: u8 = 0x02;
    /// Store a register to memory.
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps, calls and exit.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps.
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;
}

/// Opcode constants used by the loader.
pub mod op {
    /// `ld_imm64` (two slots).
    pub const LD_IMM64: u8 = 0x18;
    /// `call imm`.
    pub const CALL: u8 = 0x85;
    /// `exit`.
    pub const EXIT: u8 = 0x95;
    /// `r = imm` (64-bit mov of an immediate).
    pub const MOV64_IMM: u8 = 0xb7;
    /// Memory access size: 32-bit word.
    pub const SIZE_W: u8 = 0x00;
    /// Memory access size: 16-bit half word.
    pub const SIZE_H: u8 = 0x08;
    /// Memory access size: byte.
    pub const SIZE_B: u8 = 0x10;
    /// Memory access size: 64-bit double word.
    pub const SIZE_DW: u8 = 0x18;
    /// Mode bits of a plain memory access.
    pub const MODE_MEM: u8 = 0x60;
}

/// Values of `src_reg` that give an instruction a special meaning.
pub mod pseudo {
    /// `ld_imm64`: imm is a map fd.
    pub const MAP_FD: u8 = 1;
    /// `ld_imm64`: imm is a map fd, next imm an offset into its value.
    pub const MAP_VALUE: u8 = 2;
    /// `ld_imm64`: imm is a BTF type id of a kernel variable.
    pub const BTF_ID: u8 = 3;
    /// `ld_imm64`: imm is an index into `fd_array` of a map.
    pub const MAP_IDX: u8 = 5;
    /// `ld_imm64`: imm is an index into `fd_array`, next imm an offset.
    pub const MAP_IDX_VALUE: u8 = 6;
    /// `ld_imm64` of a function address / `call` to a bpf-to-bpf function.
    pub const CALL: u8 = 1;
    /// `ld_imm64` of a subprogram address.
    pub const FUNC: u8 = 4;
    /// `call` of a kernel function.
    pub const KFUNC_CALL: u8 = 2;
}

impl Insn {
    /// Builds an instruction from its fields.
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            code,
            regs: (src << 4) | (dst & 0x0f),
            off,
            imm,
        }
    }

    /// Decodes one instruction from 8 little-endian bytes.
    pub fn from_bytes(b: [u8; INSN_SIZE]) -> Self {
        Insn {
            code: b[0],
            regs: b[1],
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Decodes a byte slice whose length is a multiple of 8; returns `None` otherwise.
    pub fn decode_all(bytes: &[u8]) -> Option<Vec<Insn>> {
        if bytes.len() % INSN_SIZE != 0 {
            return None;
        }
        Some(
            bytes
                .chunks_exact(INSN_SIZE)
                .map(|c| {
                    let mut a = [0u8; INSN_SIZE];
                    a.copy_from_slice(c);
                    Insn::from_bytes(a)
                })
                .collect(),
        )
    }

    /// Encodes the instruction as 8 little-endian bytes.
    pub fn to_bytes(self) -> [u8; INSN_SIZE] {
        let o = self.off.to_le_bytes();
        let i = self.imm.to_le_bytes();
        [self.code, self.regs, o[0], o[1], i[0], i[1], i[2], i[3]]
    }

    /// Destination register.
    pub fn dst(self) -> u8 {
        self.regs & 0x0f
    }

    /// Source register (or pseudo kind for `ld_imm64` and `call`).
    pub fn src(self) -> u8 {
        self.regs >> 4
    }

    /// Replaces the source register field.
    pub fn set_src(&mut self, src: u8) {
        self.regs = (self.regs & 0x0f) | (src << 4);
    }

    /// Instruction class.
    pub fn class(self) -> u8 {
        self.code & 0x07
    }

    /// True for the first slot of a 16-byte `ld_imm64`.
    pub fn is_ld_imm64(self) -> bool {
        self.code == op::LD_IMM64
    }

    /// True for a bpf-to-bpf call (`call` with `src_reg == BPF_PSEUDO_CALL`).
    pub fn is_pseudo_call(self) -> bool {
        self.code == op::CALL && self.src() == pseudo::CALL
    }

    /// True for a helper call (`call` with `src_reg == 0`).
    pub fn is_helper_call(self) -> bool {
        self.code == op::CALL && self.src() == 0
    }

    /// True for `ld_imm64` of a subprogram's address (`src_reg == BPF_PSEUDO_FUNC`).
    pub fn is_pseudo_func(self) -> bool {
        self.code == op::LD_IMM64 && self.src() == pseudo::FUNC
    }
}

/// Encodes instructions as the byte stream the kernel expects.
pub fn encode_all(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let i = Insn::new(op::LD_IMM64, 1, pseudo::MAP_VALUE, -3, -7);
        assert_eq!(i.dst(), 1);
        assert_eq!(i.src(), pseudo::MAP_VALUE);
        let b = i.to_bytes();
        assert_eq!(Insn::from_bytes(b), i);
        assert!(Insn::decode_all(&b[..7]).is_none());
        assert_eq!(Insn::decode_all(&encode_all(&[i, i])).unwrap(), vec![i, i]);
    }
}
