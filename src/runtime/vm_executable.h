/* The Relax VM executable (payload of a `relax.VMExecutable` module, docs/relax-vm.md §2): a pure
 * parser over untrusted bytes that copies and validates everything it keeps, so the
 * interpreter in vm.c can index tables without re-checking. */
#ifndef TVMRPC_VM_EXECUTABLE_H
#define TVMRPC_VM_EXECUTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/ffi.h"

#define VM_EXECUTABLE_MAGIC_V1 0xD225DE2F4214151DULL
#define VM_EXECUTABLE_MAGIC_V2 0xD225DE2F4214151EULL
#define VM_EXECUTABLE_VERSION "0.14"
#define VM_TENSOR_MAGIC 0xDD5E40F096B4A13FULL

enum vm_func_kind { VM_FUNC_PACKED = 0, VM_FUNC_BYTECODE = 1, VM_FUNC_TIR = 2 };
enum vm_opcode { VM_OP_CALL = 1, VM_OP_RET = 2, VM_OP_GOTO = 3, VM_OP_IF = 4 };
enum vm_arg_kind { VM_ARG_REGISTER = 0, VM_ARG_IMMEDIATE = 1, VM_ARG_CONSTANT = 2,
		   VM_ARG_FUNCTION = 3 };

/* Special registers: numbers >= 2^54 are never real registers. */
#define VM_REG_VOID ((int64_t)1 << 54)
#define VM_REG_VM (VM_REG_VOID + 1)

typedef struct vm_func_info {
	int32_t kind;
	char *name;
	int64_t start_instr;
	int64_t end_instr;
	int64_t num_args;
	int64_t register_file_size;
	char **param_names;
	size_t num_param_names;
} vm_func_info_t;

typedef struct vm_executable {
	uint64_t magic;
	vm_func_info_t *funcs;
	size_t num_funcs;
	TVMFFIAny *constants; /* owned values; tensors are 64-byte aligned CPU copies */
	size_t num_constants;
	int64_t *instr_offsets; /* word index of instruction k */
	size_t num_instrs;
	int64_t *words;
	size_t num_words;
	uint8_t *serialized; /* the bytes it was parsed from: ffi.ModuleWriteToFile writes them
			      * back, as TVM's re-serialisation gives the very same bytes */
	size_t serialized_size;
} vm_executable_t;

/* Parse and fully validate (§2.6) an executable of `size` bytes. On success *out is a new
 * executable; on failure returns -1 with ffi_error_set and *out is NULL. Safe on arbitrary
 * bytes: every count is checked against the remaining input before anything is allocated. */
int vm_executable_parse(const uint8_t *data, size_t size, vm_executable_t **out);
void vm_executable_free(vm_executable_t *exec);

/* Index of the function table entry called `name`, or -1. */
int64_t vm_executable_find(const vm_executable_t *exec, const char *name);

/* Decode an instruction argument word: kind in bits 63..56, sign-extended 56-bit value. */
static inline void vm_arg_decode(int64_t word, int *kind, int64_t *value)
{
	*kind = (int)((uint64_t)word >> 56);
	*value = (int64_t)((uint64_t)word << 8) >> 8;
}

static inline int64_t vm_arg_encode(int kind, int64_t value)
{
	return (int64_t)(((uint64_t)kind << 56) | ((uint64_t)value & 0x00FFFFFFFFFFFFFFULL));
}

/* Human-readable listing in the style of TVM's Executable.as_text(); caller frees. */
char *vm_executable_text(const vm_executable_t *exec);

#endif
