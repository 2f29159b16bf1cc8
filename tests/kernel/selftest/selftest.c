// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * selftest.c - the self-test runner and its thread helper.
 *
 * Output is one line per case, meant for scripts (tests/kernel/run-qemu.sh):
 *   iovx-selftest: <case> RUN              (before it starts: a hang shows where)
 *   iovx-selftest: <case> PASS
 *   iovx-selftest: <case> FAIL <reason>
 *   iovx-selftest: <case> SKIP <reason>
 *   iovx-selftest: result PASS|FAIL tests=N failed=F skipped=S
 * A case also fails when portable code hit IOVX_WARN_ON or iovx_assert while it ran.
 */
#include <linux/completion.h>
#include <linux/cpu.h>
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/utsname.h>

#include "platform.h"
#include "kglue.h"

struct st_worker {
	struct task_struct *task;
	int (*fn)(void *arg, unsigned int idx);
	void *arg;
	unsigned int idx;
	int ret;
	struct completion *go;
	struct completion done;
};

static int st_worker_main(void *data)
{
	struct st_worker *w = data;

	wait_for_completion(w->go);
	w->ret = w->fn(w->arg, w->idx);
	complete(&w->done);
	return 0;
}

unsigned int iovx_st_nr_threads(unsigned int nr_unbound)
{
	return num_online_cpus() + nr_unbound;
}

int iovx_st_run_threads(int (*fn)(void *arg, unsigned int idx), void *arg,
			unsigned int nr_unbound, unsigned int *nr_threads)
{
	DECLARE_COMPLETION_ONSTACK(go);
	struct st_worker *w;
	unsigned int n = 0, i, cpu;
	int ret = 0, r;

	cpus_read_lock();	/* the online set must not change between counting and binding */
	w = kcalloc(num_online_cpus() + nr_unbound, sizeof(*w), GFP_KERNEL);
	if (!w) {
		cpus_read_unlock();
		return -ENOMEM;
	}
	for_each_online_cpu(cpu) {
		w[n].task = kthread_create(st_worker_main, &w[n], "iovx-st/%u", cpu);
		if (IS_ERR(w[n].task)) {
			ret = PTR_ERR(w[n].task);
			break;
		}
		kthread_bind(w[n].task, cpu);
		n++;
	}
	for (i = 0; !ret && i < nr_unbound; i++) {
		w[n].task = kthread_create(st_worker_main, &w[n], "iovx-st/u%u", i);
		if (IS_ERR(w[n].task)) {
			ret = PTR_ERR(w[n].task);
			break;
		}
		n++;
	}
	cpus_read_unlock();
	for (i = 0; i < n; i++) {
		w[i].fn = fn;
		w[i].arg = arg;
		w[i].idx = i;
		w[i].go = &go;
		init_completion(&w[i].done);
		/* Hold the task: kthread_stop() on a thread that already returned is then safe. */
		get_task_struct(w[i].task);
		wake_up_process(w[i].task);
	}
	complete_all(&go);	/* an aborted start still releases the threads made so far */
	for (i = 0; i < n; i++) {
		/*
		 * Join by completion first: kthread_stop() on a thread that has not been
		 * scheduled yet stops it before fn ever runs (and returns -EINTR).
		 */
		wait_for_completion(&w[i].done);
		kthread_stop(w[i].task);
		put_task_struct(w[i].task);
		r = w[i].ret;
		if (r && !ret)
			ret = r;
	}
	kfree(w);
	if (nr_threads)
		*nr_threads = n;
	return ret;
}

static void st_run_table(const struct iovx_st_case *c, unsigned int *tests,
			 unsigned int *failed, unsigned int *skipped)
{
	static struct iovx_st st;	/* runs from module init only: never concurrently */
	int warn0, assert0, dw, da, err;

	for (; c->name; c++) {
		memset(&st, 0, sizeof(st));
		warn0 = atomic_read(&iovx_kernel_warnings);
		assert0 = atomic_read(&iovx_kernel_asserts);
		iovx_st_info("%s RUN", c->name);
		err = c->fn(&st);
		dw = atomic_read(&iovx_kernel_warnings) - warn0;
		da = atomic_read(&iovx_kernel_asserts) - assert0;
		if (!err && (dw || da)) {
			snprintf(st.reason, sizeof(st.reason),
				 "portable code warned %d and asserted %d time(s)", dw, da);
			err = -EFAULT;
		}
		(*tests)++;
		if (err) {
			(*failed)++;
			iovx_st_info("%s FAIL %s", c->name, st.reason[0] ? st.reason : "(no reason)");
		} else if (st.skipped) {
			(*skipped)++;
			iovx_st_info("%s SKIP %s", c->name, st.reason);
		} else {
			iovx_st_info("%s PASS", c->name);
		}
	}
}

#ifdef IOVX_TEST_HOOKS
#define ST_HOOKS 1
#else
#define ST_HOOKS 0
#endif
#ifdef IOVX_DEBUG
#define ST_DEBUG 1
#else
#define ST_DEBUG 0
#endif

int iovx_selftest_run_all(void)
{
	unsigned int tests = 0, failed = 0, skipped = 0;

	iovx_st_info("start kernel=%s cpus=%u nr_cpu_ids=%u hooks=%d debug=%d",
		     utsname()->release, num_online_cpus(), nr_cpu_ids,
		     ST_HOOKS, ST_DEBUG);
	st_run_table(iovx_st_shim_cases, &tests, &failed, &skipped);
	st_run_table(iovx_st_iova_cases, &tests, &failed, &skipped);
	st_run_table(iovx_st_dma_cases, &tests, &failed, &skipped);
	st_run_table(iovx_st_kapi_cases, &tests, &failed, &skipped);
	iovx_st_info("result %s tests=%u failed=%u skipped=%u", failed ? "FAIL" : "PASS",
		     tests, failed, skipped);
	return failed ? -EINVAL : 0;
}
