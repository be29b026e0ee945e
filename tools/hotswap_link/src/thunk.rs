//! Moving an instruction that reaches a static directly into a thunk.
//!
//! `mov eax, [rip + X]` (and any other instruction with a RIP-relative memory
//! operand) cannot be turned into a GOT load in place: it needs the address
//! in a register first. So the instruction is replaced by a `jmp` to a thunk
//! that saves a register it does not use, loads the static's address from the
//! GOT into it, runs the same instruction against `[reg + offset]`, restores
//! the register and jumps back. The thunk steps over the red zone first (a
//! leaf function may keep data below `rsp`) and changes no flags.

use iced_x86::{
    Decoder, DecoderOptions, Encoder, FlowControl, Instruction, InstructionInfoFactory, Register,
};

/// An instruction found by the offset of its RIP-relative displacement.
#[derive(Debug, Clone)]
pub struct Site {
    pub start: usize,
    pub len: usize,
    instruction: Instruction,
}

/// The thunk's bytes and where its two relocations go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thunk {
    pub bytes: Vec<u8>,
    /// A `R_X86_64_GOTPCREL` to the static, addend -4.
    pub got_at: usize,
    /// A `R_X86_64_PC32` back to the instruction after the site, addend -4.
    pub back_at: usize,
}

/// The instruction of `code` whose RIP-relative displacement starts at `at`.
pub fn site(code: &[u8], at: usize) -> Result<Site, String> {
    let mut decoder = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    let mut instruction = Instruction::default();
    while decoder.can_decode() {
        let start = decoder.position();
        decoder.decode_out(&mut instruction);
        if instruction.is_invalid() {
            return Err(format!("undecodable code at {start:#x}"));
        }
        let len = instruction.len();
        if at < start || at >= start + len {
            continue;
        }
        let offsets = decoder.get_constant_offsets(&instruction);
        if !instruction.is_ip_rel_memory_operand()
            || !offsets.has_displacement()
            || start + offsets.displacement_offset() != at
            || offsets.displacement_size() != 4
        {
            return Err(format!(
                "the reference at {at:#x} is not the RIP-relative operand of `{instruction}`"
            ));
        }
        return Ok(Site {
            start,
            len,
            instruction,
        });
    }
    Err(format!("no instruction at {at:#x}"))
}

/// Scratch registers a thunk may borrow, in order of preference.
const SCRATCH: [Register; 11] = [
    Register::RAX,
    Register::RCX,
    Register::RDX,
    Register::RSI,
    Register::RDI,
    Register::R8,
    Register::R9,
    Register::R10,
    Register::R11,
    Register::RBX,
    Register::RBP,
];

/// The thunk running `site`'s instruction against `[reg + offset]`, where
/// `reg` holds the static's address and `offset` is the byte of the static
/// the original operand pointed at.
pub fn thunk(site: &Site, offset: i64) -> Result<Thunk, String> {
    let instruction = &site.instruction;
    let refuse = |why: &str| Err(format!("`{instruction}` {why}"));
    if instruction.flow_control() != FlowControl::Next {
        return refuse("changes the flow of control");
    }
    if instruction.is_stack_instruction() {
        return refuse("uses the stack");
    }
    let mut info = InstructionInfoFactory::new();
    let used: Vec<Register> = info
        .info(instruction)
        .used_registers()
        .iter()
        .map(|r| r.register().full_register())
        .collect();
    if used.contains(&Register::RSP) {
        return refuse("uses rsp");
    }
    let Some(scratch) = SCRATCH.iter().copied().find(|r| !used.contains(r)) else {
        return refuse("leaves no register free");
    };
    let Ok(offset) = i32::try_from(offset) else {
        return refuse("points too far into the static");
    };

    let mut moved = *instruction;
    moved.set_memory_base(scratch);
    moved.set_memory_index(Register::None);
    moved.set_memory_displacement64(offset as i64 as u64);
    moved.set_memory_displ_size(if offset == 0 { 0 } else { 8 }); // 64-bit mode: the encoder picks disp8 or disp32
    let mut encoder = Encoder::new(64);
    encoder
        .encode(&moved, 0)
        .map_err(|e| format!("cannot encode `{moved}`: {e}"))?;
    let moved = encoder.take_buffer();

    let number = scratch.number() as u8 - Register::RAX.number() as u8; // 0..=15
    let rex_b = if number >= 8 { Some(0x41) } else { None };
    let low = number & 7;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&[0x48, 0x8d, 0x64, 0x24, 0x80]); // lea rsp, [rsp - 128]
    bytes.extend(rex_b);
    bytes.push(0x50 + low); // push scratch
    bytes.push(if number >= 8 { 0x4c } else { 0x48 }); // REX.W (+R)
    bytes.extend_from_slice(&[0x8b, 0x05 | (low << 3)]); // mov scratch, [rip + disp32]
    let got_at = bytes.len();
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&moved);
    bytes.extend(rex_b);
    bytes.push(0x58 + low); // pop scratch
    bytes.extend_from_slice(&[0x48, 0x8d, 0xa4, 0x24, 0x80, 0, 0, 0]); // lea rsp, [rsp + 128]
    bytes.push(0xe9); // jmp rel32
    let back_at = bytes.len();
    bytes.extend_from_slice(&[0; 4]);
    Ok(Thunk {
        bytes,
        got_at,
        back_at,
    })
}

/// What replaces the instruction at the site: `jmp rel32` (its field at
/// offset 1), then `nop`s to the instruction's length.
pub fn jump(len: usize) -> Vec<u8> {
    let mut bytes = vec![0xe9, 0, 0, 0, 0];
    bytes.resize(len.max(5), 0x90);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disassemble(bytes: &[u8]) -> Vec<String> {
        let mut decoder = Decoder::with_ip(64, bytes, 0, DecoderOptions::NONE);
        decoder.iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn a_load_runs_through_a_register_the_instruction_does_not_use() {
        // mov ecx, [rip + 0]: the field at offset 2.
        let code = [0x90, 0x8b, 0x0d, 0, 0, 0, 0, 0xc3];
        let site = site(&code, 3).unwrap();
        assert_eq!((site.start, site.len), (1, 6));
        let thunk = thunk(&site, 0).unwrap();
        let text = disassemble(&thunk.bytes);
        assert_eq!(text[..2], ["lea rsp,[rsp-80h]", "push rax"]);
        assert!(text[2].starts_with("mov rax,["), "{text:?}");
        assert_eq!(
            text[3..6],
            ["mov ecx,[rax]", "pop rax", "lea rsp,[rsp+80h]"]
        );
        assert!(text[6].starts_with("jmp "), "{text:?}");
        assert_eq!(text.len(), 7);
        // The relocated fields: the GOT load's displacement and the jump's.
        assert_eq!(thunk.bytes[thunk.got_at - 2..thunk.got_at], [0x8b, 0x05]);
        assert_eq!(thunk.bytes[thunk.back_at - 1], 0xe9);
        assert_eq!(thunk.back_at + 4, thunk.bytes.len());
    }

    #[test]
    fn a_store_with_an_offset_keeps_the_value_register_and_the_offset() {
        // mov [rip + 0], rax (REX.W 89 05): rax is taken, so rcx carries the address.
        let code = [0x48, 0x89, 0x05, 0, 0, 0, 0];
        let site = site(&code, 3).unwrap();
        let thunk = thunk(&site, 8).unwrap();
        let text = disassemble(&thunk.bytes);
        assert_eq!(text[1], "push rcx");
        assert_eq!(text[3], "mov [rcx+8],rax");
        assert_eq!(text[4], "pop rcx");
    }

    #[test]
    fn calls_and_stack_instructions_are_refused() {
        // call [rip + 0]
        let call = [0xff, 0x15, 0, 0, 0, 0];
        assert!(thunk(&site(&call, 2).unwrap(), 0).is_err());
        // push qword [rip + 0]
        let push = [0xff, 0x35, 0, 0, 0, 0];
        assert!(thunk(&site(&push, 2).unwrap(), 0).is_err());
        // A field that is not a displacement.
        let imm = [0xb8, 0, 0, 0, 0];
        assert!(site(&imm, 1).is_err());
    }

    #[test]
    fn the_jump_fills_the_instruction() {
        assert_eq!(jump(7), [0xe9, 0, 0, 0, 0, 0x90, 0x90]);
    }
}
