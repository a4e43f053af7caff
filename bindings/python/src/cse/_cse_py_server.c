// SPDX-License-Identifier: MIT
/*
 * The Python binding's C side, server half: the runtime's exec handler
 * calls the Python handler through the CPython API, with no cffi callback
 * in between.  A command's cost in a Python server is the GIL and the
 * handler itself: converting six arguments to cdata, a generic Python
 * wrapper and its result checks cost three times the rest (measured, and
 * so done here once, in C).  open and close, which are rare, go through
 * cffi's extern "Python" functions.
 *
 * Thread states: PyGILState_Ensure() on a thread without one creates it
 * and PyGILState_Release() destroys it again, a few microseconds each
 * time.  cffi keeps the thread state of a thread that ran one of its
 * callbacks until the thread exits, so each runtime thread runs one
 * (cpy_py_pin) before its first command; its Ensure/Release pairs then
 * only take and drop the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "_cse_py.h"

struct cpy_server {
	struct cpy_server *next;
	struct cse_server *s;
	void *handle;			/* the Python Server's cffi handle */
	PyObject *handler;		/* borrowed (see cpy_server_create) */
	PyObject *slow;
	PyObject *failed;
};

/* user_context of a connection */
struct cpy_conn {
	struct cpy_server *ps;
	PyObject *conn;			/* borrowed: the Server keeps it until close */
};

static __thread int thread_pinned;

#define PACK(status, n)	((int64_t)((uint64_t)(uint32_t)(status) << 32 | (uint32_t)(n)))

/*
 * The runtime's handlers know their server only by its struct cse_server,
 * so the Python server is looked up by it when a client connects.  The
 * lock is held across cse_server_create: a client may connect before it
 * returns, and must then wait for the entry.
 */
static pthread_mutex_t servers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cpy_server *servers;

static struct cpy_server *server_find(struct cse_server *s)
{
	struct cpy_server *ps;

	pthread_mutex_lock(&servers_lock);
	for (ps = servers; ps && ps->s != s; ps = ps->next)
		;
	pthread_mutex_unlock(&servers_lock);
	return ps;
}

static void pin_thread_state(void)
{
	if (!thread_pinned) {
		cpy_py_pin();
		thread_pinned = 1;
	}
}

/*
 * With the GIL: the handler failed (an exception is set) or its output is
 * too large (none is): let Python log it and choose the status.
 */
static int64_t exec_failed(struct cpy_server *ps, PyObject *conn, uint32_t code,
			   Py_ssize_t nbytes, size_t room)
{
	PyObject *type = NULL, *exc = NULL, *tb = NULL, *res;
	long long st = -EIO;

	if (PyErr_Occurred()) {
		PyErr_Fetch(&type, &exc, &tb);
		PyErr_NormalizeException(&type, &exc, &tb);
		if (exc && tb)
			PyException_SetTraceback(exc, tb);
	}
	res = PyObject_CallFunction(ps->failed, "OIOnn", conn, code, exc ? exc : Py_None,
				    nbytes, (Py_ssize_t)room);
	if (res)
		st = PyLong_AsLongLong(res);
	if (!res || PyErr_Occurred()) {
		PyErr_WriteUnraisable(ps->failed);
		st = -EIO;
	}
	Py_XDECREF(res);
	Py_XDECREF(type);
	Py_XDECREF(exc);
	Py_XDECREF(tb);
	return PACK(st, 0);
}

/* A Python int that is a status (an exact int in the int32 range), or -1. */
static int status_of(PyObject *o, int *status)
{
	long long v;

	if (!PyLong_CheckExact(o)) {
		PyErr_Format(PyExc_TypeError, "a handler's status must be an int, not %.100s",
			     Py_TYPE(o)->tp_name);
		return -1;
	}
	v = PyLong_AsLongLong(o);
	if (v == -1 && PyErr_Occurred())
		return -1;
	if (v < INT32_MIN || v > INT32_MAX) {
		PyErr_Format(PyExc_ValueError, "a handler's status must fit in 32 bits, not %lld", v);
		return -1;
	}
	*status = (int)v;
	return 0;
}

/* With the GIL: a handler's result into the command's output area. */
static int64_t exec_result(struct cpy_server *ps, PyObject *conn, uint32_t code,
			   PyObject *res, char *out, size_t out_len)
{
	PyObject *payload;
	Py_buffer view;
	int status;

	if (PyLong_Check(res)) {
		if (status_of(res, &status))
			return exec_failed(ps, conn, code, 0, out_len);
		return PACK(status, 0);
	}
	if (!PyTuple_CheckExact(res) || PyTuple_GET_SIZE(res) != 2) {
		PyErr_Format(PyExc_TypeError, "a handler returns status or (status, output), "
			     "not %.100s", Py_TYPE(res)->tp_name);
		return exec_failed(ps, conn, code, 0, out_len);
	}
	if (status_of(PyTuple_GET_ITEM(res, 0), &status))
		return exec_failed(ps, conn, code, 0, out_len);
	payload = PyTuple_GET_ITEM(res, 1);
	if (payload == Py_None)
		return PACK(status, 0);
	if (PyBytes_CheckExact(payload)) {
		view.buf = PyBytes_AS_STRING(payload);
		view.len = PyBytes_GET_SIZE(payload);
		view.obj = NULL;
	} else if (PyObject_GetBuffer(payload, &view, PyBUF_CONTIG_RO)) {
		return exec_failed(ps, conn, code, 0, out_len);
	}
	if ((size_t)view.len > out_len) {
		Py_ssize_t n = view.len;

		if (view.obj)
			PyBuffer_Release(&view);
		return exec_failed(ps, conn, code, n, out_len);
	}
	memcpy(out, view.buf, (size_t)view.len);
	if (view.obj)
		PyBuffer_Release(&view);
	return PACK(status, view.len);
}

/* With the GIL: handler(conn, code, memoryview of a copy of the input). */
static int64_t exec_fast(struct cpy_server *ps, PyObject *conn, uint32_t code,
			 const char *in, size_t in_len, char *out, size_t out_len)
{
	PyObject *args[4] = { NULL, conn, NULL, NULL };
	PyObject *bytes, *res;
	int64_t r;

	bytes = PyBytes_FromStringAndSize(in, (Py_ssize_t)in_len);
	if (!bytes)
		return exec_failed(ps, conn, code, 0, out_len);
	args[3] = PyMemoryView_FromObject(bytes);
	Py_DECREF(bytes);
	args[2] = PyLong_FromUnsignedLong(code);
	if (!args[2] || !args[3]) {
		Py_XDECREF(args[2]);
		Py_XDECREF(args[3]);
		return exec_failed(ps, conn, code, 0, out_len);
	}
	res = PyObject_Vectorcall(ps->handler, args + 1, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET,
				  NULL);
	Py_DECREF(args[2]);
	Py_DECREF(args[3]);
	if (!res)
		return exec_failed(ps, conn, code, 0, out_len);
	r = exec_result(ps, conn, code, res, out, out_len);
	Py_DECREF(res);
	return r;
}

/* With the GIL: the Python path for handlers that take views of the slot. */
static int64_t exec_slow(struct cpy_server *ps, PyObject *conn, uint32_t code,
			 const char *in, size_t in_len, char *out, size_t out_len)
{
	PyObject *res;
	long long r;

	res = PyObject_CallFunction(ps->slow, "OIKnKn", conn, code,
				    (unsigned long long)(uintptr_t)in, (Py_ssize_t)in_len,
				    (unsigned long long)(uintptr_t)out, (Py_ssize_t)out_len);
	if (!res)
		return exec_failed(ps, conn, code, 0, out_len);
	r = PyLong_AsLongLong(res);
	Py_DECREF(res);
	if (r == -1 && PyErr_Occurred())
		return exec_failed(ps, conn, code, 0, out_len);
	return (int64_t)r;
}

static void py_exec(struct cse_conn *cc, void *user_context, __u32 code,
		    const void *in, size_t in_len, void *out, size_t out_len,
		    size_t *out_len_actual, int *status)
{
	struct cpy_conn *pc = user_context;
	struct cpy_server *ps = pc->ps;
	PyGILState_STATE g;
	int64_t r;
	size_t n;

	(void)cc;
	pin_thread_state();
	g = PyGILState_Ensure();
	if (ps->handler)
		r = exec_fast(ps, pc->conn, code, in, in_len, out, out_len);
	else
		r = exec_slow(ps, pc->conn, code, in, in_len, out, out_len);
	PyGILState_Release(g);
	n = (uint32_t)r;
	*status = (int)(uint32_t)((uint64_t)r >> 32);
	*out_len_actual = n <= out_len ? n : out_len;
}

static int py_open(struct cse_conn *cc, void **user_context)
{
	struct cpy_server *ps = server_find(cse_conn_server(cc));
	struct cpy_conn *pc;
	uintptr_t conn;

	if (!ps)
		return -ECONNREFUSED;
	pc = malloc(sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	thread_pinned = 1;	/* cpy_py_open is a cffi callback too */
	conn = cpy_py_open(ps->handle);
	if (!conn) {
		free(pc);
		return -ECONNREFUSED;
	}
	pc->ps = ps;
	pc->conn = (PyObject *)conn;
	*user_context = pc;
	return 0;
}

static void py_close(struct cse_conn *cc, void *user_context)
{
	struct cpy_conn *pc = user_context;

	(void)cc;
	thread_pinned = 1;
	cpy_py_close(pc->ps->handle, (uintptr_t)pc->conn);
	free(pc);
}

static const struct cse_server_ops py_ops = {
	.open_handler = py_open,
	.exec_handler = py_exec,
	.close_handler = py_close,
};

int cpy_server_create(struct cpy_server **out, const char *server_id,
		      uint32_t nworkers, uint32_t default_exec, int32_t spin_ns,
		      void *handle, uintptr_t handler, uintptr_t slow,
		      uintptr_t failed)
{
	struct cse_server_opts o = {
		.nworkers = nworkers,
		.default_exec = default_exec,
		.spin_ns = spin_ns,
	};
	struct cpy_server *ps;
	sigset_t old;
	int ret;

	*out = NULL;
	if (!failed || (!handler && !slow))
		return -EINVAL;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->handle = handle;
	ps->handler = (PyObject *)handler;
	ps->slow = (PyObject *)slow;
	ps->failed = (PyObject *)failed;
	ret = cse_server_init();
	if (ret) {
		free(ps);
		return ret;
	}
	pthread_mutex_lock(&servers_lock);
	cpy_signals_block(&old);
	ret = cse_server_create(&ps->s, server_id, &py_ops, &o);
	cpy_signals_restore(&old);
	if (!ret) {
		ps->next = servers;
		servers = ps;
	}
	pthread_mutex_unlock(&servers_lock);
	if (ret) {
		cse_server_deinit();
		free(ps);
		return ret;
	}
	*out = ps;
	return 0;
}

/* Running handlers finish and close handlers run (in Python) before it returns. */
void cpy_server_destroy(struct cpy_server *ps)
{
	struct cpy_server **pp;

	if (!ps)
		return;
	cse_server_destroy(ps->s);
	pthread_mutex_lock(&servers_lock);
	for (pp = &servers; *pp; pp = &(*pp)->next) {
		if (*pp == ps) {
			*pp = ps->next;
			break;
		}
	}
	pthread_mutex_unlock(&servers_lock);
	cse_server_deinit();
	free(ps);
}
