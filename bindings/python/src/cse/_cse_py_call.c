// SPDX-License-Identifier: MIT
/*
 * The Python binding's C side: Client.call's common case as a CPython
 * function.  A synchronous 64-byte round trip costs the runtime a few
 * hundred nanoseconds; through cffi and a Python method the same call cost
 * as much again in argument conversion, frames and result objects (about
 * 400 ns, measured).  Here it is one C function: it takes (code, data),
 * releases the GIL for cpy_call(), and builds the Reply (or the exception)
 * itself.  Any other form -- keyword arguments, data that is not bytes, a
 * code that is not an int -- goes to the Python implementation
 * (Client._call_py), which has the same signature and behaviour.
 *
 * cffi has no way to return a Python object from C, so cpy_call_install()
 * puts the function into a dict whose address Python passes (id(); CPython
 * keeps objects where they are).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>

#include "_cse_py.h"

/*
 * Set once by cpy_call_install(), new references held for good: the Reply
 * class for each struct cse_exec.backup value (tuple subclasses), and
 * cse.error, which makes the exception for a -errno.
 */
static PyObject *reply_types[3];
static PyObject *error_fn;

/* Output at most this large goes through a buffer on the stack. */
#define STACK_OUT	(16 * 1024)

/*
 * call_fast(state, code, data=b""): state is the client's tuple (the
 * address of its struct cpy_client, the cdata that keeps it allocated, the
 * slot's output size, Client._call_py); Python binds it as client.call.
 */
static PyObject *call_fast(PyObject *self, PyObject *const *args, Py_ssize_t nargsf,
			   PyObject *kwnames)
{
	Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
	PyObject *state, *code_o, *data = NULL, *bytes, *r;
	struct cpy_client *w;
	unsigned long code;
	char stack[STACK_OUT], *out = stack;
	const char *in = "";
	Py_ssize_t in_len = 0;
	size_t cap;
	int64_t n, info = 0;
	uint32_t lo;

	(void)self;
	if (nargs < 2 || nargs > 3 || kwnames || !PyTuple_CheckExact(args[0]) ||
	    PyTuple_GET_SIZE(args[0]) != 4)
		goto slow;
	state = args[0];
	code_o = args[1];
	if (nargs == 3) {
		data = args[2];
		if (!PyBytes_CheckExact(data))
			goto slow;
		in = PyBytes_AS_STRING(data);
		in_len = PyBytes_GET_SIZE(data);
	}
	if (!PyLong_CheckExact(code_o))
		goto slow;
	code = PyLong_AsUnsignedLong(code_o);
	if (code > UINT32_MAX || PyErr_Occurred()) {
		PyErr_Clear();
		goto slow;
	}
	w = PyLong_AsVoidPtr(PyTuple_GET_ITEM(state, 0));
	cap = PyLong_AsSize_t(PyTuple_GET_ITEM(state, 2));
	if (!w || PyErr_Occurred()) {
		PyErr_Clear();
		goto slow;
	}
	if (cap > STACK_OUT) {
		out = malloc(cap);
		if (!out)
			return PyErr_NoMemory();
	}
	/* data and state stay alive: our caller holds its arguments. */
	Py_BEGIN_ALLOW_THREADS
	n = cpy_call(w, (uint32_t)code, 0, in, (size_t)in_len, out, cap, &info);
	Py_END_ALLOW_THREADS
	lo = (uint32_t)info;
	if (n < 0 && lo & CPY_PACK_FAILED && (int)(info >> 32) == -EBADF) {
		if (out != stack)
			free(out);
		goto slow;	/* closed: nothing ran; Python says so its way */
	}
	if (n < 0 && lo & CPY_PACK_FAILED) {
		if (out != stack)
			free(out);
		r = PyObject_CallFunction(error_fn, "i", (int)(info >> 32));
		if (r) {
			PyErr_SetObject((PyObject *)Py_TYPE(r), r);
			Py_DECREF(r);
		}
		return NULL;
	}
	bytes = PyBytes_FromStringAndSize(out, n >= 0 ? n : (Py_ssize_t)(lo & CPY_PACK_LEN_MASK));
	if (out != stack)
		free(out);
	if (!bytes)
		return NULL;
	r = PyTuple_Type.tp_alloc((PyTypeObject *)reply_types[n >= 0 ? 0 :
				  (lo >> CPY_PACK_BACKUP_SHIFT) & 3], 2);
	if (!r) {
		Py_DECREF(bytes);
		return NULL;
	}
	PyTuple_SET_ITEM(r, 0, PyLong_FromLong(n >= 0 ? 0 : (long)(int32_t)(info >> 32)));
	PyTuple_SET_ITEM(r, 1, bytes);
	return r;

slow:
	if (nargs < 1 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != 4)
		return PyErr_Format(PyExc_TypeError, "call_fast() needs a client's state");
	return PyObject_Vectorcall(PyTuple_GET_ITEM(args[0], 3), args + 1,
				   (size_t)(nargs - 1), kwnames);
}

static PyMethodDef call_def = {
	"call_fast", (PyCFunction)(void (*)(void))call_fast, METH_FASTCALL | METH_KEYWORDS,
	"Client.call's common case (see _cse_py_call.c).",
};

/*
 * @dict gets "call_fast"; @replies is a tuple of the three Reply classes
 * (slot, backup messages, backup call), @error the function that makes
 * the exception for a -errno.  Addresses of Python objects (id()).
 */
int cpy_call_install(uintptr_t dict, uintptr_t replies, uintptr_t error)
{
	PyGILState_STATE g = PyGILState_Ensure();
	PyObject *fn, *types = (PyObject *)replies;
	int i, ret = -EINVAL;

	if (!PyTuple_Check(types) || PyTuple_GET_SIZE(types) != 3)
		goto out;
	for (i = 0; i < 3; i++) {
		if (!PyType_Check(PyTuple_GET_ITEM(types, i)) ||
		    !PyType_IsSubtype((PyTypeObject *)PyTuple_GET_ITEM(types, i), &PyTuple_Type))
			goto out;
	}
	ret = -ENOMEM;
	fn = PyCFunction_New(&call_def, NULL);
	if (fn && !PyDict_SetItemString((PyObject *)dict, "call_fast", fn)) {
		for (i = 0; i < 3; i++) {
			Py_XDECREF(reply_types[i]);
			reply_types[i] = PyTuple_GET_ITEM(types, i);
			Py_INCREF(reply_types[i]);
		}
		Py_XDECREF(error_fn);
		error_fn = (PyObject *)error;
		Py_INCREF(error_fn);
		ret = 0;
	}
	Py_XDECREF(fn);
out:
	if (ret)
		PyErr_Clear();
	PyGILState_Release(g);
	return ret;
}
