/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * edu_dev.h - QEMU's edu device (PCI 1234:11e8) as the kernel test modules drive it: its DMA
 * registers, one polled transfer, the test pattern and the check reporter. Included by
 * tests/kernel/edu/edu.c (iovx_edu.ko) and tests/kernel/kpatched/iovx_kpt.c (iovx_kpt.ko);
 * the build scripts put it beside each.
 *
 * The device moves up to EDU_LEN bytes between RAM (a bus address, translated by the
 * IOMMU) and its own buffer at EDU_BUF; a transfer the IOMMU blocks leaves RAM untouched
 * (a write) or fills the device buffer with QEMU's failed-read bytes (a read).
 */
#ifndef IOVX_TESTS_EDU_DEV_H
#define IOVX_TESTS_EDU_DEV_H

#include <linux/delay.h>
#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/printk.h>
#include <linux/types.h>

#define EDU_REG_SRC		0x80
#define EDU_REG_DST		0x88
#define EDU_REG_CNT		0x90
#define EDU_REG_CMD		0x98
#define EDU_CMD_RUN		0x1
#define EDU_CMD_TO_RAM		0x2	/* buffer -> RAM; clear: RAM -> buffer */
#define EDU_BUF			0x40000	/* the device buffer, in its address space */
#define EDU_LEN			4095	/* QEMU 7.2 aborts on a 4096-byte transfer */
#define EDU_POISON		0xee

/* The checks a module ran: "<prefix><name> PASS|FAIL [why]" on the console. */
struct edu_checks {
	const char *prefix;
	unsigned int n, failed;
};

static inline __printf(4, 5) void edu_check(struct edu_checks *cs, const char *name, bool ok,
					    const char *fmt, ...)
{
	char why[160] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	cs->n++;
	if (!ok)
		cs->failed++;
	pr_info("%s%s %s%s%s\n", cs->prefix, name, ok ? "PASS" : "FAIL", why[0] ? " " : "",
		why);
}

/* One transfer of len bytes; polls the run bit (a transfer takes 100 ms of virtual time). */
static inline int edu_xfer(void __iomem *mmio, u64 from, u64 to, u32 len, bool to_ram)
{
	unsigned int i;

	writeq(from, mmio + EDU_REG_SRC);
	writeq(to, mmio + EDU_REG_DST);
	writeq(len, mmio + EDU_REG_CNT);
	writeq(EDU_CMD_RUN | (to_ram ? EDU_CMD_TO_RAM : 0), mmio + EDU_REG_CMD);
	for (i = 0; i < 500; i++) {
		if (!(readq(mmio + EDU_REG_CMD) & EDU_CMD_RUN))
			return 0;
		msleep(5);
	}
	return -ETIMEDOUT;
}

/* RAM at bus address 'bus' -> the device buffer, and back. */
static inline int edu_load(void __iomem *mmio, u64 bus)
{
	return edu_xfer(mmio, bus, EDU_BUF, EDU_LEN, false);
}

static inline int edu_store(void __iomem *mmio, u64 bus)
{
	return edu_xfer(mmio, EDU_BUF, bus, EDU_LEN, true);
}

/* The test pattern of a seed over EDU_LEN bytes. */
static inline void edu_fill(u8 *p, u8 seed)
{
	unsigned int i;

	for (i = 0; i < EDU_LEN; i++)
		p[i] = (u8)(seed + i * 13 + (i >> 8));
}

/* Every one of the EDU_LEN bytes is v. */
static inline bool edu_all(const u8 *p, u8 v)
{
	unsigned int i;

	for (i = 0; i < EDU_LEN; i++)
		if (p[i] != v)
			return false;
	return true;
}

#endif /* IOVX_TESTS_EDU_DEV_H */
