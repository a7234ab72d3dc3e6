/* The Relax VM interpreter and its two modules: the executable module that load_module
 * returns for a Relax build, and the VM module that `vm_load_executable` creates and the
 * stock Python VirtualMachine drives over RPC (docs/relax-vm.md §3, §5). One request at a time
 * per VM; values in registers are reference counted TVMFFIAny. */
#include "runtime/vm.h"
#include "runtime/device.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"

/* Nested bytecode calls (recursion) and the total work of one top-level invocation are
 * bounded so an uploaded executable cannot exhaust the stack or spin forever. */
#define VM_MAX_DEPTH 200
#define VM_MAX_STEPS ((uint64_t)1 << 26)

typedef struct vm_saved {
	char *name;
	vm_closure_t *closure;
	int include_return;
} vm_saved_t;

typedef struct vm_state {
	TVMFFIAny *inputs;
	size_t num_inputs;
	int has_inputs;
	TVMFFIAny output;
	int has_output;
} vm_state_t;

struct vm {
	ffi_module_t *exec_module; /* owned */
	const vm_executable_t *exec;
	int initialized;
	DLDevice *devices;
	size_t num_devices;
	TVMFFIAny *pool; /* one function value per table entry */
	uint8_t *is_kernel; /* pool entry came from the library (compiled code) */
	vm_saved_t *saved;
	size_t num_saved;
	vm_state_t *states; /* per function table entry */
	TVMFFIAny *constants; /* tensor constants copied to devices[0] when it is no CPU */
	int depth;
	uint64_t steps;
};

static _Thread_local vm_t *current_vm;
static uint64_t storage_limit = (uint64_t)4 << 30;

void vm_storage_limit_set(uint64_t bytes)
{
	storage_limit = bytes;
}

uint64_t vm_storage_limit(void)
{
	return storage_limit;
}

/* ---- storage, closures, tensors ---- */

static void storage_deleter(void *self, int flags)
{
	(void)flags;
	vm_storage_t *s = self;
	if (s->device.device_type == kDLCPU)
		free(s->data);
	else
		ffi_object_release(s->data); /* the device buffer (docs/devices.md) */
	free(s);
}

vm_storage_t *vm_storage_new(uint64_t size, uint64_t alignment, DLDevice device)
{
	if (size > storage_limit || size > SIZE_MAX / 2) {
		ffi_error_set("MemoryError",
			      "Relax VM: storage of %llu bytes exceeds this runtime's limit of %llu",
			      (unsigned long long)size, (unsigned long long)storage_limit);
		return NULL;
	}
	if (alignment < 64)
		alignment = 64;
	void *data;
	if (device.device_type != kDLCPU) {
		/* data is the buffer's handle; tensors address it with byte_offset. */
		device_buffer_t *b = device_buffer_new(device, size);
		if (!b)
			return NULL;
		data = b;
	} else {
		data = aligned_alloc_zero((size_t)alignment, (size_t)size);
	}
	if (!data) {
		ffi_error_set("MemoryError", "Relax VM: cannot allocate %llu bytes of storage",
			      (unsigned long long)size);
		return NULL;
	}
	vm_storage_t *s = xcalloc(1, sizeof *s);
	ffi_object_init(&s->header, FFI_VM_STORAGE, storage_deleter);
	s->data = data;
	s->size = size;
	s->device = device;
	return s;
}

static void closure_deleter(void *self, int flags)
{
	(void)flags;
	vm_closure_t *c = self;
	for (size_t i = 0; i < c->num_bound; i++)
		ffi_any_release(&c->bound[i]);
	free(c->bound);
	ffi_object_release(&c->exec_module->header);
	free(c);
}

vm_closure_t *vm_closure_new(ffi_module_t *exec_module, int64_t func_index,
			     const TVMFFIAny *bound, size_t num_bound)
{
	vm_closure_t *c = xcalloc(1, sizeof *c);
	ffi_object_init(&c->header, FFI_VM_CLOSURE, closure_deleter);
	c->exec_module = exec_module;
	ffi_object_retain(&exec_module->header);
	c->func_index = func_index;
	c->bound = xcalloc(num_bound, sizeof *c->bound);
	c->num_bound = num_bound;
	for (size_t i = 0; i < num_bound; i++) {
		c->bound[i] = bound[i];
		ffi_any_retain(&c->bound[i]);
	}
	return c;
}

ffi_tensor_t *vm_tensor_copy(const DLTensor *src, DLDevice device)
{
	if (!ffi_dltensor_is_compact(src)) {
		ffi_error_set("ValueError", "Relax VM: cannot copy a non-compact tensor");
		return NULL;
	}
	uint64_t nbytes;
	if (ffi_dltensor_nbytes(src, &nbytes)) {
		ffi_error_set("ValueError", "Relax VM: tensor has an invalid shape");
		return NULL;
	}
	ffi_tensor_t *t = device_tensor_alloc(src->shape, src->ndim, src->dtype, device);
	if (!t)
		return NULL;
	if (nbytes && (src->data || src->byte_offset) && device_copy(src, &t->dl, nbytes)) {
		ffi_object_release(&t->header);
		return NULL;
	}
	return t;
}

/* A tensor object that neither owns its data nor references an owner borrows memory that
 * is valid only during the current call (an RPC argument or a view of one). */
static int tensor_is_borrowed(const TVMFFIAny *v)
{
	if (v->type_index != FFI_TENSOR || !v->v_obj)
		return 0;
	const ffi_tensor_t *t = (const ffi_tensor_t *)v->v_obj;
	return !t->owns_data && !t->data_owner;
}

/* Make a value safe to keep after the call that produced it: borrowed tensors (and raw
 * strings) become owned copies, also inside arrays (§5.4). */
static int vm_value_own(TVMFFIAny *v, int depth)
{
	if (depth > 32) {
		ffi_error_set("ValueError", "Relax VM: result is nested too deeply");
		return -1;
	}
	const DLTensor *dl = ffi_any_as_dltensor(v);
	if (v->type_index == FFI_DLTENSOR_PTR || tensor_is_borrowed(v) ||
	    (dl && dl->byte_offset != 0)) {
		ffi_tensor_t *t = vm_tensor_copy(ffi_any_as_dltensor(v), ffi_any_as_dltensor(v)->device);
		if (!t)
			return -1;
		ffi_any_release(v);
		*v = ffi_any_object(&t->header);
	} else if (v->type_index == FFI_RAW_STR) {
		*v = ffi_any_object(&ffi_str_new(v->v_c_str, strlen(v->v_c_str))->header);
	} else if (v->type_index == FFI_BYTE_ARRAY_PTR) {
		const TVMFFIByteArray *b = v->v_ptr;
		ffi_bytes_t *copy = ffi_bytes_new(b->data, b->size);
		if (!copy)
			return -1;
		*v = ffi_any_object(&copy->header);
	} else if (v->type_index == FFI_ARRAY && v->v_obj) {
		ffi_array_t *a = (ffi_array_t *)v->v_obj;
		for (size_t i = 0; i < a->size; i++)
			if (vm_value_own(&a->items[i], depth + 1))
				return -1;
	}
	return 0;
}

int vm_value_keep(TVMFFIAny *v)
{
	return vm_value_own(v, 0);
}

/* ---- the VM context for builtins ---- */

vm_t *vm_context(const TVMFFIAny *arg)
{
	if (arg->type_index == FFI_OPAQUE_PTR && current_vm && arg->v_ptr == current_vm)
		return current_vm;
	ffi_error_set("TypeError", "expected the VM context (the %%vm register) as first argument");
	return NULL;
}

int vm_device(const vm_t *vm, int64_t index, DLDevice *out)
{
	if (index == -1 && vm->num_devices)
		index = (int64_t)vm->num_devices - 1;
	if (index < 0 || (uint64_t)index >= vm->num_devices) {
		ffi_error_set("IndexError", "Relax VM: device index %lld out of range (%zu devices)",
			      (long long)index, vm->num_devices);
		return -1;
	}
	*out = vm->devices[index];
	return 0;
}

/* ---- interpreter ---- */

static int vm_run(vm_t *vm, int64_t fidx, const TVMFFIAny *args, int64_t nargs,
		  TVMFFIAny *result);
static int vm_check_kernel_args(vm_t *vm, const vm_func_info_t *f, const TVMFFIAny *args,
				int64_t n);

static void param_list(const vm_func_info_t *f, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < f->num_param_names && used + 1 < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
					 f->param_names[i]);
}

static int vm_call_entry(vm_t *vm, int64_t fidx, const TVMFFIAny *args, int64_t n,
			 TVMFFIAny *result)
{
	const vm_func_info_t *f = &vm->exec->funcs[fidx];
	if (f->kind == VM_FUNC_BYTECODE)
		return vm_run(vm, fidx, args, n, result);
	const TVMFFIAny *fn = &vm->pool[fidx];
	if (fn->type_index != FFI_FUNCTION || !fn->v_obj) {
		ffi_error_set("InternalError", "Relax VM: function '%s' is not callable", f->name);
		return -1;
	}
	if (vm->is_kernel[fidx] && vm_check_kernel_args(vm, f, args, n))
		return -1;
	if (ffi_function_call((ffi_function_t *)fn->v_obj, args, (int32_t)n, result)) {
		log_debug("relax vm: call of '%s' failed: %s: %s", f->name, ffi_error_kind(),
			  ffi_error_message());
		return -1;
	}
	return 0;
}

/* Compiled kernels check types, shapes and dtypes themselves but assume 64-byte aligned
 * data (§6) and never expect the VM pointer; a corrupted executable must not crash them. */
static int vm_check_kernel_args(vm_t *vm, const vm_func_info_t *f, const TVMFFIAny *args,
				int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		if (args[i].type_index == FFI_OPAQUE_PTR && args[i].v_ptr == vm) {
			ffi_error_set("ValueError", "Relax VM: kernel '%s' was passed the VM context "
						    "as argument %lld",
				      f->name, (long long)i);
			return -1;
		}
		const DLTensor *t = ffi_any_as_dltensor(&args[i]);
		/* Device data are buffer handles, not addresses: nothing to align. */
		if (t && t->device.device_type == kDLCPU &&
		    ((uintptr_t)t->data + t->byte_offset) % 64 != 0) {
			ffi_error_set("ValueError",
				      "Relax VM: tensor argument %lld of kernel '%s' is not 64-byte "
				      "aligned",
				      (long long)i, f->name);
			return -1;
		}
	}
	return 0;
}

static void vm_load_arg(vm_t *vm, const TVMFFIAny *regs, int64_t word, TVMFFIAny *out)
{
	int kind;
	int64_t v;
	vm_arg_decode(word, &kind, &v);
	switch (kind) {
	case VM_ARG_REGISTER:
		if (v == VM_REG_VM)
			*out = ffi_any_ptr(vm);
		else if (v == VM_REG_VOID)
			*out = ffi_any_none();
		else
			*out = regs[v];
		return;
	case VM_ARG_IMMEDIATE:
		*out = ffi_any_int(v);
		return;
	case VM_ARG_CONSTANT:
		*out = vm->constants ? vm->constants[v] : vm->exec->constants[v];
		return;
	default:
		*out = vm->pool[v];
		return;
	}
}

static TVMFFIAny vm_read_reg(vm_t *vm, const TVMFFIAny *regs, int64_t reg)
{
	if (reg == VM_REG_VM)
		return ffi_any_ptr(vm);
	if (reg == VM_REG_VOID)
		return ffi_any_none();
	return regs[reg];
}

/* Run bytecode function fidx. Arguments are borrowed; *result is a new value. The executable
 * was validated at load (vm_executable.c), so register, constant and function indices in
 * the instructions are in range and jumps stay inside the function. */
static int vm_run(vm_t *vm, int64_t fidx, const TVMFFIAny *args, int64_t nargs,
		  TVMFFIAny *result)
{
	const vm_executable_t *ex = vm->exec;
	const vm_func_info_t *f = &ex->funcs[fidx];
	*result = ffi_any_none();
	if (nargs != f->num_args) {
		char params[256];
		param_list(f, params, sizeof params);
		ffi_error_set("ValueError",
			      "Invoking function %s expects %lld arguments (%s), but %lld arguments "
			      "were provided.",
			      f->name, (long long)f->num_args, params, (long long)nargs);
		return -1;
	}
	if (vm->depth >= VM_MAX_DEPTH) {
		ffi_error_set("RecursionError", "Relax VM: calls nested deeper than %d (in '%s')",
			      VM_MAX_DEPTH, f->name);
		return -1;
	}
	TVMFFIAny *regs = calloc((size_t)(f->register_file_size ? f->register_file_size : 1),
				 sizeof *regs);
	if (!regs) {
		ffi_error_set("MemoryError", "Relax VM: cannot allocate %lld registers",
			      (long long)f->register_file_size);
		return -1;
	}
	for (int64_t i = 0; i < nargs; i++) {
		regs[i] = args[i];
		ffi_any_retain(&regs[i]);
	}
	vm->depth++;
	int rc = -1;
	int64_t pc = f->start_instr;
	for (;;) {
		if (pc < f->start_instr || pc >= f->end_instr) {
			ffi_error_set("RuntimeError",
				      "Relax VM: execution left function '%s' at instruction %lld",
				      f->name, (long long)pc);
			break;
		}
		if (++vm->steps > VM_MAX_STEPS) {
			ffi_error_set("RuntimeError",
				      "Relax VM: invocation exceeded %llu instructions",
				      (unsigned long long)VM_MAX_STEPS);
			break;
		}
		const int64_t *w = ex->words + ex->instr_offsets[pc];
		if (w[0] == VM_OP_CALL) {
			int64_t n = w[3];
			TVMFFIAny small[8], *argv = small;
			if (n > 8 && !(argv = malloc((size_t)n * sizeof *argv))) {
				ffi_error_set("MemoryError", "Relax VM: cannot allocate arguments");
				break;
			}
			for (int64_t a = 0; a < n; a++)
				vm_load_arg(vm, regs, w[4 + a], &argv[a]);
			TVMFFIAny ret;
			int crc = vm_call_entry(vm, w[2], argv, n, &ret);
			if (argv != small)
				free(argv);
			if (crc)
				break;
			if (w[1] >= VM_REG_VOID) {
				ffi_any_release(&ret);
			} else {
				ffi_any_release(&regs[w[1]]);
				regs[w[1]] = ret;
			}
			pc++;
		} else if (w[0] == VM_OP_RET) {
			*result = vm_read_reg(vm, regs, w[1]);
			ffi_any_retain(result);
			rc = 0;
			break;
		} else if (w[0] == VM_OP_GOTO) {
			pc += w[1];
		} else {
			TVMFFIAny cond = vm_read_reg(vm, regs, w[1]);
			int64_t c;
			if (ffi_any_as_int(&cond, &c)) {
				ffi_error_set("TypeError",
					      "Relax VM: If in '%s' needs an Int or Bool condition, got "
					      "type index %d",
					      f->name, cond.type_index);
				break;
			}
			pc += c ? 1 : w[2];
		}
	}
	vm->depth--;
	for (int64_t i = 0; i < f->register_file_size; i++)
		ffi_any_release(&regs[i]);
	free(regs);
	return rc;
}

int vm_call_value(vm_t *vm, const TVMFFIAny *callee, const TVMFFIAny *args, int32_t num_args,
		  TVMFFIAny *result)
{
	*result = ffi_any_none();
	if (callee->type_index == FFI_FUNCTION && callee->v_obj)
		return ffi_function_call((ffi_function_t *)callee->v_obj, args, num_args, result);
	if (callee->type_index != FFI_VM_CLOSURE || !callee->v_obj) {
		ffi_error_set("TypeError",
			      "Relax VM: cannot call a value of type index %d (not a function or "
			      "closure)",
			      callee->type_index);
		return -1;
	}
	const vm_closure_t *c = (const vm_closure_t *)callee->v_obj;
	if (c->exec_module != vm->exec_module || c->func_index < 0 ||
	    (uint64_t)c->func_index >= vm->exec->num_funcs ||
	    vm->exec->funcs[c->func_index].kind != VM_FUNC_BYTECODE) {
		ffi_error_set("ValueError", "Relax VM: the closure belongs to another executable");
		return -1;
	}
	size_t total = (size_t)num_args + c->num_bound;
	TVMFFIAny *all = xcalloc(total, sizeof *all);
	if (num_args)
		memcpy(all, args, (size_t)num_args * sizeof *all);
	if (c->num_bound)
		memcpy(all + num_args, c->bound, c->num_bound * sizeof *all);
	int rc = vm_run(vm, c->func_index, all, (int64_t)total, result);
	free(all);
	return rc;
}

/* Entry from outside the interpreter (an RPC call, invoke_stateful, a saved function):
 * sets the VM context for builtins and makes the result independent of the arguments. */
static int vm_enter(vm_t *vm, const TVMFFIAny *callee, const TVMFFIAny *args, int32_t n,
		    TVMFFIAny *result)
{
	*result = ffi_any_none();
	if (!vm->initialized) {
		ffi_error_set("RuntimeError",
			      "Relax VM not initialised: call vm_initialization first");
		return -1;
	}
	vm_t *saved_vm = current_vm;
	int outer = vm->depth == 0;
	if (outer)
		vm->steps = 0;
	current_vm = vm;
	int rc = vm_call_value(vm, callee, args, n, result);
	current_vm = saved_vm;
	if (rc == 0 && outer && vm_value_own(result, 0)) {
		ffi_any_release(result);
		rc = -1;
	}
	return rc;
}

/* ---- initialisation: the function pool ---- */

static void vm_reset(vm_t *vm)
{
	if (vm->pool)
		for (size_t i = 0; i < vm->exec->num_funcs; i++)
			ffi_any_release(&vm->pool[i]);
	free(vm->pool);
	vm->pool = NULL;
	free(vm->is_kernel);
	vm->is_kernel = NULL;
	for (size_t i = 0; i < vm->num_saved; i++) {
		free(vm->saved[i].name);
		ffi_object_release(&vm->saved[i].closure->header);
	}
	free(vm->saved);
	vm->saved = NULL;
	vm->num_saved = 0;
	if (vm->states)
		for (size_t i = 0; i < vm->exec->num_funcs; i++) {
			vm_state_t *s = &vm->states[i];
			for (size_t k = 0; k < s->num_inputs; k++)
				ffi_any_release(&s->inputs[k]);
			free(s->inputs);
			ffi_any_release(&s->output);
		}
	free(vm->states);
	vm->states = NULL;
	if (vm->constants)
		for (size_t i = 0; i < vm->exec->num_constants; i++)
			ffi_any_release(&vm->constants[i]);
	free(vm->constants);
	vm->constants = NULL;
	free(vm->devices);
	vm->devices = NULL;
	vm->num_devices = 0;
	vm->initialized = 0;
}

/* Kernels first (the executable's imports, depth first), then our builtins, then the
 * global registry, as the reference resolves packed functions (§1.4). */
static ffi_function_t *vm_resolve(vm_t *vm, const char *name, int *is_kernel)
{
	ffi_module_t *em = vm->exec_module;
	*is_kernel = 1;
	for (size_t i = 0; i < em->num_imports; i++) {
		ffi_function_t *fn = ffi_module_get_function(em->imports[i], name, 1);
		if (fn)
			return fn;
		ffi_error_clear();
	}
	*is_kernel = 0;
	ffi_function_t *fn = vm_builtin_get(name);
	return fn ? fn : ffi_registry_get(name);
}

static void msg_append(char *buf, size_t size, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void msg_append(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
	if (*used + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *used, size - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used = *used + (size_t)n < size ? *used + (size_t)n : size - 1;
}

static int vm_build_pool(vm_t *vm)
{
	const vm_executable_t *ex = vm->exec;
	vm->pool = xcalloc(ex->num_funcs, sizeof *vm->pool);
	vm->is_kernel = xcalloc(ex->num_funcs, 1);
	char msg[1536];
	size_t used = 0;
	int missing = 0;
	for (size_t i = 0; i < ex->num_funcs; i++) {
		const vm_func_info_t *f = &ex->funcs[i];
		if (f->kind == VM_FUNC_BYTECODE) {
			vm_closure_t *c = vm_closure_new(vm->exec_module, (int64_t)i, NULL, 0);
			vm->pool[i] = ffi_any_object(&c->header);
			continue;
		}
		if (f->kind == VM_FUNC_TIR) {
			msg_append(msg, sizeof msg, &used,
				   "%sfunction '%s' is a VM-TIR function (exec_mode=\"compiled\"), "
				   "which this runtime cannot run; rebuild with the default "
				   "exec_mode=\"bytecode\"",
				   missing++ ? "; " : "", f->name);
			continue;
		}
		const char *refusal = vm_builtin_refusal(f->name);
		int is_kernel = 0;
		ffi_function_t *fn = refusal ? NULL : vm_resolve(vm, f->name, &is_kernel);
		if (fn) {
			vm->pool[i] = ffi_any_object(&fn->header);
			vm->is_kernel[i] = (uint8_t)is_kernel;
			continue;
		}
		msg_append(msg, sizeof msg, &used,
			   "%sfunction '%s' is not available in this runtime (%s)",
			   missing++ ? "; " : "", f->name,
			   refusal ? refusal
				   : "not in the kernel library, the runtime builtins or the registry");
	}
	if (!missing)
		return 0;
	ffi_error_set("RuntimeError", "Relax VM: %s", msg);
	return -1;
}

/* ---- VM module methods ---- */

static vm_t *method_vm(void *self)
{
	return ((ffi_function_t *)self)->data;
}

static int vm_func_by_name(vm_t *vm, const TVMFFIAny *args, int32_t n, const char *method,
			   int64_t *fidx)
{
	const char *name;
	if (ffi_arg_str(method, args, n, 0, &name, NULL))
		return -1;
	*fidx = vm_executable_find(vm->exec, name);
	if (*fidx < 0 || vm->exec->funcs[*fidx].kind != VM_FUNC_BYTECODE) {
		ffi_error_set("ValueError", "%s: Unknown function: %s", method, name);
		return -1;
	}
	return 0;
}

static int vm_require_init(const vm_t *vm, const char *method)
{
	if (vm->initialized)
		return 0;
	ffi_error_set("RuntimeError", "%s: Relax VM not initialised: call vm_initialization first",
		      method);
	return -1;
}

/* Tensor constants live on the CPU in the executable; a VM whose first device is another
 * one uses copies there (docs/devices.md, Relax VM). */
static int vm_copy_constants(vm_t *vm)
{
	if (vm->devices[0].device_type == kDLCPU || vm->exec->num_constants == 0)
		return 0;
	vm->constants = xcalloc(vm->exec->num_constants, sizeof *vm->constants);
	for (size_t i = 0; i < vm->exec->num_constants; i++) {
		const TVMFFIAny *c = &vm->exec->constants[i];
		if (c->type_index != FFI_TENSOR) {
			vm->constants[i] = *c;
			ffi_any_retain(&vm->constants[i]);
			continue;
		}
		ffi_tensor_t *t = vm_tensor_copy(ffi_any_as_dltensor(c), vm->devices[0]);
		if (!t)
			return -1;
		vm->constants[i] = ffi_any_object(&t->header);
	}
	return 0;
}

static int method_vm_initialization(void *self, const TVMFFIAny *args, int32_t n,
				    TVMFFIAny *result)
{
	(void)result;
	vm_t *vm = method_vm(self);
	if (n <= 0 || n % 3 != 0) {
		ffi_error_set("ValueError",
			      "vm_initialization expects (device_type, device_id, alloc_type) "
			      "triples, got %d arguments",
			      n);
		return -1;
	}
	for (int32_t i = 0; i < n; i += 3) {
		int64_t type, id, alloc;
		if (ffi_arg_int("vm_initialization", args, n, i, &type) ||
		    ffi_arg_int("vm_initialization", args, n, i + 1, &id) ||
		    ffi_arg_int("vm_initialization", args, n, i + 2, &alloc))
			return -1;
		int last = i + 3 == n;
		if ((type % 128 != kDLCPU || id != 0) &&
		    (last || type != kDLOpenCL || id < 0 || id > INT32_MAX)) {
			ffi_error_set("ValueError",
				      "vm_initialization: device (%lld, %lld) is not supported; this "
				      "runtime runs Relax VMs on CPU device 0 or on OpenCL devices "
				      "with the CPU as the last (host) device",
				      (long long)type, (long long)id);
			return -1;
		}
		if (type == kDLOpenCL && device_check((DLDevice){kDLOpenCL, (int32_t)id}))
			return -1;
		if (alloc != 1 && alloc != 2) {
			ffi_error_set("ValueError",
				      "vm_initialization: unknown allocator type %lld (1 = naive, 2 = "
				      "pooled)",
				      (long long)alloc);
			return -1;
		}
	}
	/* A second initialisation starts over rather than stacking devices (docs/relax-vm.md §5.2). */
	vm_reset(vm);
	vm->num_devices = (size_t)n / 3;
	vm->devices = xcalloc(vm->num_devices, sizeof *vm->devices);
	for (size_t i = 0; i < vm->num_devices; i++) {
		int64_t type, id;
		ffi_arg_int("vm_initialization", args, n, (int32_t)(3 * i), &type);
		ffi_arg_int("vm_initialization", args, n, (int32_t)(3 * i + 1), &id);
		vm->devices[i] = (DLDevice){type == kDLOpenCL ? kDLOpenCL : kDLCPU,
					    type == kDLOpenCL ? (int32_t)id : 0};
	}
	vm->states = xcalloc(vm->exec->num_funcs, sizeof *vm->states);
	if (vm_copy_constants(vm) || vm_build_pool(vm)) {
		vm_reset(vm);
		return -1;
	}
	vm->initialized = 1;
	return 0;
}

/* Inputs kept beyond the call (set_input, save_function) are copied (§5.2). */
static int vm_convert_input(vm_t *vm, const TVMFFIAny *in, TVMFFIAny *out)
{
	*out = *in;
	if (in->type_index == FFI_DLTENSOR_PTR || in->type_index == FFI_TENSOR) {
		ffi_tensor_t *t = vm_tensor_copy(ffi_any_as_dltensor(in), vm->devices[0]);
		if (!t)
			return -1;
		*out = ffi_any_object(&t->header);
		return 0;
	}
	ffi_any_retain(out);
	return vm_value_own(out, 0) ? (ffi_any_release(out), -1) : 0;
}

static int vm_convert_inputs(vm_t *vm, const TVMFFIAny *in, int32_t n, TVMFFIAny **out)
{
	*out = xcalloc((size_t)n, sizeof **out);
	for (int32_t i = 0; i < n; i++)
		if (vm_convert_input(vm, &in[i], &(*out)[i])) {
			for (int32_t k = 0; k < i; k++)
				ffi_any_release(&(*out)[k]);
			free(*out);
			*out = NULL;
			return -1;
		}
	return 0;
}

/* set_input_with_param_module: the last input is a module (a param_module of the tensor
 * cache) whose get_params() gives the value passed, as in the reference. */
static int vm_input_from_param_module(TVMFFIAny *last)
{
	if (last->type_index != FFI_MODULE || !last->v_obj) {
		ffi_error_set("TypeError", "set_input_with_param_module: the last input must be a "
					   "module (type index %d given)",
			      last->type_index);
		return -1;
	}
	ffi_function_t *get = ffi_module_get_function((ffi_module_t *)last->v_obj, "get_params", 1);
	if (!get) {
		if (!ffi_error_kind()[0])
			ffi_error_set("InternalError", "set_input_with_param_module: the module has "
						       "no get_params");
		return -1;
	}
	TVMFFIAny params;
	int rc = ffi_function_call(get, NULL, 0, &params);
	ffi_object_release(&get->header);
	if (rc == 0) {
		ffi_any_release(last);
		*last = params;
	}
	return rc;
}

static void vm_inputs_free(TVMFFIAny *inputs, int32_t n)
{
	for (int32_t k = 0; k < n; k++)
		ffi_any_release(&inputs[k]);
	free(inputs);
}

static int vm_set_input(vm_t *vm, const TVMFFIAny *args, int32_t n, const char *method,
			int with_param_module)
{
	int64_t fidx;
	if (vm_require_init(vm, method) || vm_func_by_name(vm, args, n, method, &fidx))
		return -1;
	const vm_func_info_t *f = &vm->exec->funcs[fidx];
	if (n - 1 != f->num_args) {
		ffi_error_set("ValueError", "%s: function %s expects %lld inputs, got %d", method,
			      f->name, (long long)f->num_args, n - 1);
		return -1;
	}
	TVMFFIAny *inputs;
	if (vm_convert_inputs(vm, args + 1, n - 1, &inputs))
		return -1;
	if (with_param_module && n > 1 && vm_input_from_param_module(&inputs[n - 2])) {
		vm_inputs_free(inputs, n - 1);
		return -1;
	}
	vm_state_t *s = &vm->states[fidx];
	vm_inputs_free(s->inputs, (int32_t)s->num_inputs);
	s->inputs = inputs;
	s->num_inputs = (size_t)(n - 1);
	s->has_inputs = 1;
	return 0;
}

static int method_set_input(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)result;
	return vm_set_input(method_vm(self), args, n, "set_input", 0);
}

static int method_invoke_stateful(void *self, const TVMFFIAny *args, int32_t n,
				  TVMFFIAny *result)
{
	(void)result;
	vm_t *vm = method_vm(self);
	int64_t fidx;
	if (vm_require_init(vm, "invoke_stateful") ||
	    vm_func_by_name(vm, args, n, "invoke_stateful", &fidx))
		return -1;
	vm_state_t *s = &vm->states[fidx];
	if (!s->has_inputs) {
		ffi_error_set("ValueError",
			      "No inputs set for stateful call of %s; use `set_input` first.",
			      vm->exec->funcs[fidx].name);
		return -1;
	}
	TVMFFIAny out;
	if (vm_enter(vm, &vm->pool[fidx], s->inputs, (int32_t)s->num_inputs, &out))
		return -1;
	ffi_any_release(&s->output);
	s->output = out;
	s->has_output = 1;
	return 0;
}

/* Follow get_output's index path; *arity is the element count of an Array or -1. */
static int vm_output_at(vm_t *vm, const TVMFFIAny *args, int32_t n, const char *method,
			const TVMFFIAny **value)
{
	int64_t fidx;
	if (vm_func_by_name(vm, args, n, method, &fidx))
		return -1;
	if (!vm->states || !vm->states[fidx].has_output) {
		ffi_error_set("ValueError", "%s: no output stored for %s; run invoke_stateful first",
			      method, vm->exec->funcs[fidx].name);
		return -1;
	}
	const TVMFFIAny *v = &vm->states[fidx].output;
	for (int32_t i = 1; i < n; i++) {
		int64_t idx;
		if (ffi_arg_int(method, args, n, i, &idx))
			return -1;
		if (v->type_index != FFI_ARRAY || !v->v_obj) {
			ffi_error_set("ValueError", "%s: index %d applied to a value that is not a tuple",
				      method, i - 1);
			return -1;
		}
		const ffi_array_t *a = (const ffi_array_t *)v->v_obj;
		if (idx < 0 || (uint64_t)idx >= a->size) {
			ffi_error_set("IndexError", "%s: index %lld out of range for a tuple of %zu",
				      method, (long long)idx, a->size);
			return -1;
		}
		v = &a->items[idx];
	}
	*value = v;
	return 0;
}

static int method_get_output(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	const TVMFFIAny *v;
	if (vm_output_at(method_vm(self), args, n, "get_output", &v))
		return -1;
	if (v->type_index == FFI_ARRAY) {
		ffi_error_set("ValueError",
			      "get_output: the value is a tuple; cannot return a tuple for RPC "
			      "compatibility (index into it)");
		return -1;
	}
	*result = *v;
	ffi_any_retain(result);
	return 0;
}

static int method_get_output_arity(void *self, const TVMFFIAny *args, int32_t n,
				   TVMFFIAny *result)
{
	const TVMFFIAny *v;
	if (vm_output_at(method_vm(self), args, n, "get_output_arity", &v))
		return -1;
	*result = ffi_any_int(v->type_index == FFI_ARRAY && v->v_obj
				      ? (int64_t)((const ffi_array_t *)v->v_obj)->size
				      : -1);
	return 0;
}

static int method_get_function_arity(void *self, const TVMFFIAny *args, int32_t n,
				     TVMFFIAny *result)
{
	vm_t *vm = method_vm(self);
	int64_t fidx;
	if (vm_func_by_name(vm, args, n, "get_function_arity", &fidx))
		return -1;
	*result = ffi_any_int((int64_t)vm->exec->funcs[fidx].num_param_names);
	return 0;
}

static int method_get_function_param_name(void *self, const TVMFFIAny *args, int32_t n,
					  TVMFFIAny *result)
{
	vm_t *vm = method_vm(self);
	int64_t fidx, i;
	if (vm_func_by_name(vm, args, n, "get_function_param_name", &fidx) ||
	    ffi_arg_int("get_function_param_name", args, n, 1, &i))
		return -1;
	const vm_func_info_t *f = &vm->exec->funcs[fidx];
	if (i < 0 || (uint64_t)i >= f->num_param_names) {
		ffi_error_set("ValueError",
			      "get_function_param_name: index %lld out of range for %s with %zu "
			      "parameters",
			      (long long)i, f->name, f->num_param_names);
		return -1;
	}
	const char *p = f->param_names[i];
	*result = ffi_any_object(&ffi_str_new(p, strlen(p))->header);
	return 0;
}

static int method_save_function(void *self, const TVMFFIAny *args, int32_t n,
				TVMFFIAny *result)
{
	(void)result;
	vm_t *vm = method_vm(self);
	int64_t fidx, include_return;
	const char *saved_name;
	size_t saved_len;
	if (vm_require_init(vm, "save_function") ||
	    vm_func_by_name(vm, args, n, "save_function", &fidx) ||
	    ffi_arg_str("save_function", args, n, 1, &saved_name, &saved_len) ||
	    ffi_arg_int("save_function", args, n, 2, &include_return))
		return -1;
	if (memchr(saved_name, '\0', saved_len) || saved_len == 0) {
		ffi_error_set("ValueError", "save_function: invalid saved name");
		return -1;
	}
	TVMFFIAny *bound;
	if (vm_convert_inputs(vm, args + 3, n - 3, &bound))
		return -1;
	vm_closure_t *c = vm_closure_new(vm->exec_module, fidx, bound, (size_t)(n - 3));
	for (int32_t i = 0; i < n - 3; i++)
		ffi_any_release(&bound[i]);
	free(bound);
	for (size_t i = 0; i < vm->num_saved; i++)
		if (strlen(vm->saved[i].name) == saved_len &&
		    memcmp(vm->saved[i].name, saved_name, saved_len) == 0) {
			ffi_object_release(&vm->saved[i].closure->header);
			vm->saved[i].closure = c;
			vm->saved[i].include_return = include_return != 0;
			return 0;
		}
	vm->saved = xrealloc(vm->saved, (vm->num_saved + 1) * sizeof *vm->saved);
	vm->saved[vm->num_saved++] =
		(vm_saved_t){xstrndup(saved_name, saved_len), c, include_return != 0};
	return 0;
}

static int method_invoke_closure(void *self, const TVMFFIAny *args, int32_t n,
				 TVMFFIAny *result)
{
	vm_t *vm = method_vm(self);
	if (n < 1) {
		ffi_error_set("TypeError", "invoke_closure expects a closure and its arguments");
		return -1;
	}
	return vm_enter(vm, &args[0], args + 1, n - 1, result);
}

static int method_set_instrument(void *self, const TVMFFIAny *args, int32_t n,
				 TVMFFIAny *result)
{
	(void)self, (void)args, (void)n, (void)result;
	ffi_error_set("RuntimeError",
		      "set_instrument is not supported by this runtime (instrument hooks are "
		      "Python callbacks, which a C device cannot run)");
	return -1;
}

static int method_set_input_with_param_module(void *self, const TVMFFIAny *args, int32_t n,
					      TVMFFIAny *result)
{
	(void)result;
	return vm_set_input(method_vm(self), args, n, "set_input_with_param_module", 1);
}

static const struct {
	const char *name;
	TVMFFISafeCallType call;
} vm_methods[] = {
	{"vm_initialization", method_vm_initialization},
	{"set_input", method_set_input},
	{"invoke_stateful", method_invoke_stateful},
	{"get_output", method_get_output},
	{"get_output_arity", method_get_output_arity},
	{"get_function_arity", method_get_function_arity},
	{"get_function_param_name", method_get_function_param_name},
	{"save_function", method_save_function},
	{"invoke_closure", method_invoke_closure},
	{"set_instrument", method_set_instrument},
	{"set_input_with_param_module", method_set_input_with_param_module},
};

/* A Relax function or saved function looked up by name on the VM module. */
typedef struct vm_entry {
	vm_t *vm;
	int64_t func_index;
	vm_closure_t *saved; /* owned, when this is a saved function */
	int include_return;
} vm_entry_t;

static void vm_entry_free(void *data)
{
	vm_entry_t *e = data;
	if (e->saved)
		ffi_object_release(&e->saved->header);
	free(e);
}

static int vm_entry_call(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	vm_entry_t *e = ((ffi_function_t *)self)->data;
	vm_t *vm = e->vm;
	if (e->saved) {
		TVMFFIAny clo = ffi_any_object(&e->saved->header);
		if (vm_enter(vm, &clo, args, n, result))
			return -1;
		if (!e->include_return)
			ffi_any_release(result);
		return 0;
	}
	if (!vm->initialized) {
		ffi_error_set("RuntimeError", "Relax VM not initialised: call vm_initialization "
					      "before calling %s",
			      vm->exec->funcs[e->func_index].name);
		return -1;
	}
	return vm_enter(vm, &vm->pool[e->func_index], args, n, result);
}

static ffi_function_t *vm_get_function(ffi_module_t *mod, const char *name)
{
	vm_t *vm = mod->impl;
	for (size_t i = 0; i < sizeof vm_methods / sizeof vm_methods[0]; i++)
		if (strcmp(vm_methods[i].name, name) == 0)
			return ffi_function_new(vm_methods[i].call, vm, NULL, &mod->header);
	vm_entry_t *e = xcalloc(1, sizeof *e);
	e->vm = vm;
	for (size_t i = 0; i < vm->num_saved; i++)
		if (strcmp(vm->saved[i].name, name) == 0) {
			e->saved = vm->saved[i].closure;
			ffi_object_retain(&e->saved->header);
			e->include_return = vm->saved[i].include_return;
			return ffi_function_new(vm_entry_call, e, vm_entry_free, &mod->header);
		}
	e->func_index = vm_executable_find(vm->exec, name);
	/* Kernels and builtins of the table are not functions of the VM (§5.2). */
	if (e->func_index < 0 || vm->exec->funcs[e->func_index].kind != VM_FUNC_BYTECODE) {
		free(e);
		return NULL;
	}
	return ffi_function_new(vm_entry_call, e, vm_entry_free, &mod->header);
}

static void vm_destroy(ffi_module_t *mod)
{
	vm_t *vm = mod->impl;
	vm_reset(vm);
	ffi_object_release(&vm->exec_module->header);
	free(vm);
}

static const ffi_module_vtable_t vm_vtable = {
	.kind = "relax.VirtualMachine",
	.get_function = vm_get_function,
	.destroy = vm_destroy,
};

ffi_module_t *vm_module_new(ffi_module_t *exec_module)
{
	vm_t *vm = xcalloc(1, sizeof *vm);
	vm->exec_module = exec_module;
	ffi_object_retain(&exec_module->header);
	vm->exec = vm_executable_module_get(exec_module);
	ffi_module_t *mod = ffi_module_new(&vm_vtable, vm);
	return mod;
}

/* ---- the executable module ---- */

static int exec_load_executable(void *self, const TVMFFIAny *args, int32_t n,
				TVMFFIAny *result)
{
	(void)args, (void)n;
	ffi_module_t *em = (ffi_module_t *)((ffi_function_t *)self)->owner;
	*result = ffi_any_object(&vm_module_new(em)->header);
	return 0;
}

static int exec_has_function(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	ffi_module_t *em = (ffi_module_t *)((ffi_function_t *)self)->owner;
	const char *name;
	if (ffi_arg_str("has_function", args, n, 0, &name, NULL))
		return -1;
	*result = ffi_any_bool(vm_executable_find(em->impl, name) >= 0);
	return 0;
}

static int exec_as_text(void *self, const TVMFFIAny *args, int32_t n, TVMFFIAny *result)
{
	(void)args, (void)n;
	ffi_module_t *em = (ffi_module_t *)((ffi_function_t *)self)->owner;
	char *text = vm_executable_text(em->impl);
	*result = ffi_any_object(&ffi_str_new(text, strlen(text))->header);
	free(text);
	return 0;
}

static ffi_function_t *exec_get_function(ffi_module_t *mod, const char *name)
{
	if (strcmp(name, "vm_load_executable") == 0)
		return ffi_function_new(exec_load_executable, NULL, NULL, &mod->header);
	if (strcmp(name, "has_function") == 0)
		return ffi_function_new(exec_has_function, NULL, NULL, &mod->header);
	if (strcmp(name, "as_text") == 0)
		return ffi_function_new(exec_as_text, NULL, NULL, &mod->header);
	return NULL;
}

static void exec_destroy(ffi_module_t *mod)
{
	vm_executable_free(mod->impl);
}

static const ffi_module_vtable_t exec_vtable = {
	.kind = "relax.VMExecutable",
	.get_function = exec_get_function,
	.destroy = exec_destroy,
};

ffi_module_t *vm_executable_module_new(vm_executable_t *exec)
{
	return ffi_module_new(&exec_vtable, exec);
}

const vm_executable_t *vm_executable_module_get(ffi_module_t *mod)
{
	return mod && mod->vtable == &exec_vtable ? mod->impl : NULL;
}

/* ffi.Module.load_from_bytes.relax.VMExecutable: the loader the blob's kind names (§1.2). */
static int exec_load_from_bytes(void *self, const TVMFFIAny *args, int32_t n,
				TVMFFIAny *result)
{
	(void)self;
	const char *data = NULL;
	size_t size = 0;
	if (n >= 1)
		data = ffi_any_as_bytes(&args[0], &size);
	if (!data) {
		ffi_error_set("TypeError", "ffi.Module.load_from_bytes.relax.VMExecutable expects "
					   "Bytes");
		return -1;
	}
	vm_executable_t *exec;
	if (vm_executable_parse((const uint8_t *)data, size, &exec))
		return -1;
	*result = ffi_any_object(&vm_executable_module_new(exec)->header);
	return 0;
}
FFI_REGISTER_GLOBAL("ffi.Module.load_from_bytes.relax.VMExecutable", exec_load_from_bytes)
