// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * edu.c - iovx_edu.ko: iovx driving a real DMA engine (QEMU's edu device, PCI 1234:11e8)
 * behind emulated VT-d, built out of tree against include/ alone, as any driver would.
 *
 * Two edu devices: the one in slot IOVX_EDU_SLOT goes to "iovx_edu" (driver_managed_dma:
 * its own paging domain, attached, and an iovx DMA domain over it for each mode in turn);
 * the one in slot IOVX_EDU_PLAIN_SLOT goes to "iovx_edu_plain", a plain driver on the
 * kernel's DMA API (dma_map_single), the baseline. Every check is decided by data: fault
 * lines are rate-limited and a dropped write leaves no other trace.
 *
 * Per mode (strict, deferred, revive, reuse, bounce): map a source and a destination
 * buffer, let the device read the source (RAM -> device) and write it to the destination
 * (device -> RAM), unmap, compare the bytes. Then the mode's fault check:
 *   strict    a device write to the destination's old IOVA right after unmap lands nowhere
 *   deferred  (a bound of 300 ms) a write right after unmap may still land through the
 *             warmed stale translation; once the flush the bound forces has run
 *             (released == queued), a write lands nowhere
 *   revive    a remap inside the window revives the same IOVA (no new mapping) and it
 *             carries DMA; once the window has expired, a write lands nowhere
 *   reuse     a tagged mapping keeps serving DMA after unmap and across remaps (same
 *             IOVA); after iovx_dma_stop_reuse a write lands nowhere
 *   bounce    the device reads the copy taken at map, not the caller's later bytes, and
 *             no IOVA of the mapping translates to a caller page; a domain with the
 *             default crossover (0) calibrates it on this iommu_domain at create
 * Then the per-op cost: map + unmap of 4095 bytes, IOVX_EDU_COST_ITERS times, in every
 * mode and with dma_map_single/dma_unmap_single on the plain device (same boot; TCG
 * timings are relative only).
 *
 * Output: "iovx-edu: <name> PASS|FAIL [reason]" per check, "iovx-edu: cost ..." lines and
 * "iovx-edu: result PASS|FAIL checks=N failed=F". A domain "edu" (strict, one live
 * mapping) stays until unload so its debugfs directory can be read.
 */
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/err.h>
#include <linux/io.h>
#include <linux/iommu.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/string.h>

#include <iovx/dma.h>
#include <iovx/inval.h>
#include <iovx/kernel.h>
#include <iovx/reuse.h>

#include "edu_dev.h"

#define IOVX_EDU_SLOT		0x10
#define IOVX_EDU_PLAIN_SLOT	0x11
#define IOVX_EDU_COST_ITERS	2000
#define IOVX_EDU_BOUND_NS	(300ull * 1000 * 1000)

#define EDU_PFX			"iovx-edu: "

struct edu {
	struct pci_dev *pdev;
	void __iomem *mmio;
	struct iommu_domain *domain;	/* iovx device only */
	bool attached;
};

static bool leak_on_exit;
module_param(leak_on_exit, bool, 0444);
MODULE_PARM_DESC(leak_on_exit, "test: leave the domain \"edu\" alive at unload (iovx stays pinned)");

static struct edu edu_iovx, edu_plain;
static struct iovx_kdomain *kd_keep;	/* "edu": lives until unload */
static u64 keep_dma;
static u8 *src, *dst;			/* page-sized kmalloc buffers */
static struct edu_checks checks = { .prefix = EDU_PFX };
#define check(...)	edu_check(&checks, __VA_ARGS__)

/*
 * map src (TO_DEVICE) and dst (FROM_DEVICE), device: src -> buffer -> dst. Leaves both
 * mapped; sdma and ddma get the addresses. 0 when dst then holds src's bytes (after the
 * caller's unmap for bounce: checked there).
 */
static int map_pair(struct iovx_dma_domain *dom, unsigned int attrs, u8 seed, u64 *sdma,
		    u64 *ddma)
{
	int ret;

	edu_fill(src, seed);
	memset(dst, 0, EDU_LEN);
	ret = iovx_dma_map_single(dom, virt_to_phys(src), EDU_LEN, IOVX_DMA_TO_DEVICE, attrs,
				  sdma);
	if (ret)
		return ret;
	ret = iovx_dma_map_single(dom, virt_to_phys(dst), EDU_LEN, IOVX_DMA_FROM_DEVICE, attrs,
				  ddma);
	if (ret) {
		iovx_dma_unmap_single(dom, *sdma, EDU_LEN, IOVX_DMA_TO_DEVICE, attrs);
		return ret;
	}
	ret = edu_load(edu_iovx.mmio, *sdma);
	if (!ret)
		ret = edu_store(edu_iovx.mmio, *ddma);
	return ret;
}

static int unmap_pair(struct iovx_dma_domain *dom, unsigned int attrs, u64 sdma, u64 ddma)
{
	int a = iovx_dma_unmap_single(dom, sdma, EDU_LEN, IOVX_DMA_TO_DEVICE, attrs);
	int b = iovx_dma_unmap_single(dom, ddma, EDU_LEN, IOVX_DMA_FROM_DEVICE, attrs);

	return a ? a : b;
}

/* A round trip: map, device both ways, unmap, the bytes compared. */
static void round_trip(const char *mode, struct iovx_dma_domain *dom, unsigned int attrs,
		       u8 seed, u64 *ddma)
{
	char name[48];
	u64 sdma;
	int ret;

	snprintf(name, sizeof(name), "%s-data", mode);
	ret = map_pair(dom, attrs, seed, &sdma, ddma);
	if (ret) {
		check(name, false, "map or DMA: %d", ret);
		return;
	}
	ret = unmap_pair(dom, attrs, sdma, *ddma);
	check(name, !ret && !memcmp(src, dst, EDU_LEN), "dma=%llx/%llx unmap=%d", sdma, *ddma,
	      ret);
}

/* The device writes its buffer (src's bytes) to an IOVA nobody should reach: dst stays. */
static bool write_lands(u64 bus)
{
	memset(dst, EDU_POISON, EDU_LEN);
	if (edu_store(edu_iovx.mmio, bus))
		return true;	/* a hung engine is a failure too */
	return !edu_all(dst, EDU_POISON);
}

static struct iovx_kdomain *make(const char *name, enum iovx_dma_mode mode, unsigned int flags)
{
	struct iovx_inval_config icfg;
	struct iovx_dma_config cfg;
	struct iovx_kdomain *kd = NULL;
	char cname[48];
	int ret;

	iovx_kernel_dma_config_init(&cfg, &icfg, NULL);
	cfg.mode = mode;
	cfg.flags = flags;
	cfg.fallback = IOVX_DMA_MODE_STRICT;
	icfg.max_age_ns = IOVX_EDU_BOUND_NS;
	if (mode == IOVX_DMA_MODE_BOUNCE)
		cfg.bounce_crossover = 4096;
	ret = iovx_kdomain_create(&edu_iovx.pdev->dev, edu_iovx.domain, &cfg, name, &kd);
	snprintf(cname, sizeof(cname), "%s-create", name);
	check(cname, !ret, ret ? "%d" : NULL, ret);
	return ret ? NULL : kd;
}

static void destroy(const char *name, struct iovx_kdomain *kd)
{
	char cname[48];
	int ret = iovx_kdomain_destroy(kd);

	snprintf(cname, sizeof(cname), "%s-destroy", name);
	check(cname, ret == 0, "leaked %d", ret);
}

/* Mean ns of one map + unmap of 4095 bytes (TCG: compare within a boot only). */
static u64 cost(struct iovx_dma_domain *dom, unsigned int attrs, enum iovx_dma_dir dir)
{
	u64 t0, dma;
	unsigned int i;

	t0 = ktime_get_ns();
	for (i = 0; i < IOVX_EDU_COST_ITERS; i++) {
		if (iovx_dma_map_single(dom, virt_to_phys(src), EDU_LEN, dir, attrs, &dma))
			return 0;
		if (iovx_dma_unmap_single(dom, dma, EDU_LEN, dir, attrs))
			return 0;
	}
	return (ktime_get_ns() - t0) / IOVX_EDU_COST_ITERS;
}

static u64 cost_kernel(void)
{
	struct device *dev = &edu_plain.pdev->dev;
	dma_addr_t dma;
	unsigned int i;
	u64 t0;

	t0 = ktime_get_ns();
	for (i = 0; i < IOVX_EDU_COST_ITERS; i++) {
		dma = dma_map_single(dev, src, EDU_LEN, DMA_BIDIRECTIONAL);
		if (dma_mapping_error(dev, dma))
			return 0;
		dma_unmap_single(dev, dma, EDU_LEN, DMA_BIDIRECTIONAL);
	}
	return (ktime_get_ns() - t0) / IOVX_EDU_COST_ITERS;
}

static u64 costs[6];
static const char *const cost_names[6] = {
	"strict", "deferred", "revive", "reuse", "bounce", "kernel-dma-api"
};

/* Bad arguments get their errno and change nothing (no domain, no mapping). */
static void test_bad_args(void)
{
	struct device *dev = &edu_iovx.pdev->dev;
	struct iovx_dma_config cfg;
	struct iovx_inval_config icfg;
	struct iovx_kdomain *kd = NULL;
	struct iovx_iommu *iommu;
	int a, b, c, d, e, f, g;

	iovx_kernel_dma_config_init(&cfg, &icfg, NULL);
	a = iovx_kdomain_create(NULL, edu_iovx.domain, NULL, "x", &kd);
	b = iovx_kdomain_create(dev, NULL, NULL, "x", &kd);
	c = iovx_kdomain_create(dev, edu_iovx.domain, NULL, "x", NULL);
	/* the plain device is not attached to this domain */
	d = iovx_kdomain_create(&edu_plain.pdev->dev, edu_iovx.domain, NULL, "x", &kd);
	cfg.mode = IOVX_DMA_MODE_PASSTHROUGH;
	e = iovx_kdomain_create(dev, edu_iovx.domain, &cfg, "x", &kd);
	cfg.mode = IOVX_DMA_MODE_STRICT;
	cfg.map_table_order = 3;
	f = iovx_kdomain_create(dev, edu_iovx.domain, &cfg, "x", &kd);
	g = iovx_kdomain_destroy(NULL);
	check("kdomain-bad-args", a == -EINVAL && b == -EINVAL && c == -EINVAL && d == -EINVAL &&
	      e == -EINVAL && f == -EINVAL && g == -EINVAL && !kd, "%d %d %d %d %d %d %d", a, b,
	      c, d, e, f, g);

	kd = make("edu-ops", IOVX_DMA_MODE_STRICT, 0);
	if (!kd)
		return;
	iommu = iovx_kdomain_iommu(kd);
	a = iommu->ops->map(iommu, 0x1000, 0x2001, 0x1000, IOVX_IOMMU_READ, 0);
	b = iommu->ops->map(iommu, 0x1000, 0x2000, 0x1000, 0, 0);
	c = iommu->ops->map(iommu, 1ull << iommu->ias_bits, 0x2000, 0x1000, IOVX_IOMMU_READ, 0);
	d = iommu->ops->inv_range(iommu, 0x1000, 0);
	e = iovx_dma_map_single(iovx_kdomain_dma(kd), virt_to_phys(src), 0, IOVX_DMA_TO_DEVICE,
				0, &keep_dma);
	f = iovx_dma_unmap_single(iovx_kdomain_dma(kd), 0x1000, EDU_LEN, IOVX_DMA_TO_DEVICE, 0);
	check("ops-bad-args", a == -EINVAL && b == -EINVAL && c == -ERANGE && d == -EINVAL &&
	      e == -EINVAL && f == -ENOENT && !iommu_iova_to_phys(edu_iovx.domain, 0x1000),
	      "%d %d %d %d %d %d", a, b, c, d, e, f);
	destroy("edu-ops", kd);
}

static void test_strict(void)
{
	struct iovx_kdomain *kd = make("edu-strict", IOVX_DMA_MODE_STRICT, 0);
	u64 ddma;

	if (!kd)
		return;
	round_trip("strict", iovx_kdomain_dma(kd), 0, 1, &ddma);
	check("strict-fault-after-unmap", !write_lands(ddma), NULL);
	costs[0] = cost(iovx_kdomain_dma(kd), 0, IOVX_DMA_BIDIRECTIONAL);
	destroy("edu-strict", kd);
}

/* Polls fn until it returns true, up to ~5 s; false on timeout. */
static bool wait_for(bool (*fn)(struct iovx_dma_domain *dom), struct iovx_dma_domain *dom)
{
	unsigned int i;

	for (i = 0; i < 500; i++) {
		if (fn(dom))
			return true;
		msleep(10);
	}
	return false;
}

static bool all_released(struct iovx_dma_domain *dom)
{
	struct iovx_inval_stats st;

	return !iovx_dma_get_inval_stats(dom, &st) && st.released == st.queued &&
	       st.flushes_age > 0;
}

static void test_deferred(void)
{
	struct iovx_kdomain *kd = make("edu-deferred", IOVX_DMA_MODE_DEFERRED, 0);
	struct iovx_inval_stats st;
	struct iovx_dma_domain *dom;
	bool stale;
	u64 ddma;

	if (!kd)
		return;
	dom = iovx_kdomain_dma(kd);
	/* The round trip warmed the destination's translation in the IOMMU's IOTLB. */
	round_trip("deferred", dom, 0, 2, &ddma);
	stale = write_lands(ddma);	/* allowed: inside the bound, nothing invalidated yet */
	check("deferred-flushed-by-bound", wait_for(all_released, dom), NULL);
	iovx_dma_get_inval_stats(dom, &st);
	check("deferred-fault-after-flush", !write_lands(ddma),
	      "stale_write_before_flush=%s flushes_age=%llu max_stale_ms=%llu",
	      stale ? "landed" : "dropped", st.flushes_age, st.max_stale_ns / 1000000);
	costs[1] = cost(dom, 0, IOVX_DMA_BIDIRECTIONAL);
	destroy("edu-deferred", kd);
}

static bool revive_expired(struct iovx_dma_domain *dom)
{
	struct iovx_reuse_stats rs;
	struct iovx_inval_stats is;

	return !iovx_dma_get_reuse_stats(dom, &rs) && rs.expired > 0 && rs.entries == 0 &&
	       !iovx_dma_get_inval_stats(dom, &is) && is.released == is.queued;
}

static void test_revive(void)
{
	struct iovx_kdomain *kd = make("edu-revive", IOVX_DMA_MODE_DEFERRED, IOVX_DMA_F_REVIVE);
	struct iovx_reuse_stats rs0, rs1;
	struct iovx_dma_domain *dom;
	u64 ddma, d2;
	int ret;

	if (!kd)
		return;
	dom = iovx_kdomain_dma(kd);
	round_trip("revive", dom, 0, 3, &ddma);
	/* Inside the window: the same buffer, direction and attrs revive the mapping. */
	iovx_dma_get_reuse_stats(dom, &rs0);
	ret = iovx_dma_map_single(dom, virt_to_phys(dst), EDU_LEN, IOVX_DMA_FROM_DEVICE, 0, &d2);
	iovx_dma_get_reuse_stats(dom, &rs1);
	check("revive-same-iova", !ret && d2 == ddma && rs1.revivals == rs0.revivals + 1,
	      "ret=%d dma=%llx was %llx revivals=%llu", ret, d2, ddma, rs1.revivals);
	if (ret)
		goto out;
	check("revive-serves-dma", write_lands(d2) && !memcmp(src, dst, EDU_LEN), NULL);
	iovx_dma_unmap_single(dom, d2, EDU_LEN, IOVX_DMA_FROM_DEVICE, 0);
	check("revive-expired", wait_for(revive_expired, dom), NULL);
	check("revive-fault-after-expiry", !write_lands(ddma), NULL);
	costs[2] = cost(dom, 0, IOVX_DMA_BIDIRECTIONAL);
out:
	destroy("edu-revive", kd);
}

static void test_reuse(void)
{
	struct iovx_kdomain *kd = make("edu-reuse", IOVX_DMA_MODE_REUSE, 0);
	const unsigned int a = IOVX_DMA_ATTR_REUSE;
	struct iovx_dma_domain *dom;
	u64 ddma, d2;
	int ret;

	if (!kd)
		return;
	dom = iovx_kdomain_dma(kd);
	round_trip("reuse", dom, a, 4, &ddma);
	/* The tagged mapping stays: it serves DMA after unmap and a remap hits it. */
	check("reuse-serves-after-unmap", write_lands(ddma) && !memcmp(src, dst, EDU_LEN), NULL);
	ret = iovx_dma_map_single(dom, virt_to_phys(dst), EDU_LEN, IOVX_DMA_FROM_DEVICE, a, &d2);
	check("reuse-hit-same-iova", !ret && d2 == ddma, "ret=%d dma=%llx was %llx", ret, d2,
	      ddma);
	if (!ret) {
		check("reuse-hit-serves-dma", write_lands(d2) && !memcmp(src, dst, EDU_LEN), NULL);
		iovx_dma_unmap_single(dom, d2, EDU_LEN, IOVX_DMA_FROM_DEVICE, a);
	}
	ret = iovx_dma_stop_reuse(dom, virt_to_phys(dst), EDU_LEN);
	check("reuse-stop", ret >= 1, "torn down %d", ret);
	check("reuse-fault-after-stop", !write_lands(ddma), NULL);
	iovx_dma_stop_reuse(dom, virt_to_phys(src), EDU_LEN);
	costs[3] = cost(dom, a, IOVX_DMA_BIDIRECTIONAL);
	iovx_dma_stop_reuse(dom, virt_to_phys(src), EDU_LEN);
	destroy("edu-reuse", kd);
}

/* No IOVA page of [dma, dma + EDU_LEN) translates to the page(s) of buf. */
static bool caller_unmapped(u64 dma, u8 *buf)
{
	u64 first = virt_to_phys(buf) >> PAGE_SHIFT;
	u64 last = virt_to_phys(buf + EDU_LEN - 1) >> PAGE_SHIFT;
	u64 iova, pa;

	for (iova = dma & PAGE_MASK; iova < dma + EDU_LEN; iova += PAGE_SIZE) {
		pa = iommu_iova_to_phys(edu_iovx.domain, iova) >> PAGE_SHIFT;
		if (!pa || (pa >= first && pa <= last))
			return false;
	}
	return true;
}

static void test_bounce(void)
{
	struct iovx_kdomain *kd = make("edu-bounce", IOVX_DMA_MODE_BOUNCE, 0);
	struct iovx_dma_stats s0, s1;
	struct iovx_dma_domain *dom;
	u8 *want;
	u64 sdma, ddma;
	int ret;

	if (!kd)
		return;
	dom = iovx_kdomain_dma(kd);
	want = kmalloc(EDU_LEN, GFP_KERNEL);
	if (!want) {
		check("bounce-alloc", false, NULL);
		goto out;
	}
	iovx_dma_get_stats(dom, &s0);
	edu_fill(src, 5);
	memcpy(want, src, EDU_LEN);
	memset(dst, 0, EDU_LEN);
	ret = iovx_dma_map_single(dom, virt_to_phys(src), EDU_LEN, IOVX_DMA_TO_DEVICE, 0, &sdma);
	if (!ret)
		ret = iovx_dma_map_single(dom, virt_to_phys(dst), EDU_LEN, IOVX_DMA_FROM_DEVICE, 0,
					  &ddma);
	if (ret) {
		check("bounce-map", false, "%d", ret);
		goto out;
	}
	iovx_dma_get_stats(dom, &s1);
	check("bounce-pool-only", s1.bounced == s0.bounced + 2 && caller_unmapped(sdma, src) &&
	      caller_unmapped(ddma, dst), "bounced=%llu", s1.bounced - s0.bounced);
	/* After map the device works on the copy: the caller's later bytes never reach it. */
	edu_fill(src, 99);
	ret = edu_load(edu_iovx.mmio, sdma);
	if (!ret)
		ret = edu_store(edu_iovx.mmio, ddma);
	check("bounce-dst-untouched-before-unmap", !ret && edu_all(dst, 0), "dma %d", ret);
	ret = unmap_pair(dom, 0, sdma, ddma);
	check("bounce-data", !ret && !memcmp(dst, want, EDU_LEN), "unmap %d", ret);
	costs[4] = cost(dom, 0, IOVX_DMA_BIDIRECTIONAL);
out:
	kfree(want);
	destroy("edu-bounce", kd);
}

/* The default crossover (0): calibrated at create by timing this very iommu_domain. */
static void test_bounce_calibrated(void)
{
	struct iovx_inval_config icfg;
	struct iovx_dma_config cfg;
	struct iovx_kdomain *kd = NULL;
	struct iovx_dma_stats st;
	int ret;

	iovx_kernel_dma_config_init(&cfg, &icfg, NULL);
	cfg.mode = IOVX_DMA_MODE_BOUNCE;
	cfg.flags = 0;
	cfg.bounce_crossover = 0;
	ret = iovx_kdomain_create(&edu_iovx.pdev->dev, edu_iovx.domain, &cfg, "edu-bounce-cal",
				  &kd);
	if (!ret)
		ret = iovx_dma_get_stats(iovx_kdomain_dma(kd), &st);
	check("bounce-calibrated", !ret && st.bounce_crossover && st.bounce_crossover_to_device,
	      "ret=%d crossover=%llu to_device=%llu", ret, ret ? 0 : st.bounce_crossover,
	      ret ? 0 : st.bounce_crossover_to_device);
	if (kd)
		destroy("edu-bounce-cal", kd);
}

/* The baseline device: the kernel's DMA API moves the bytes (and its cost). */
static void test_plain(void)
{
	struct device *dev = &edu_plain.pdev->dev;
	dma_addr_t s, d;
	int ret;

	edu_fill(src, 6);
	memset(dst, 0, EDU_LEN);
	s = dma_map_single(dev, src, EDU_LEN, DMA_TO_DEVICE);
	d = dma_map_single(dev, dst, EDU_LEN, DMA_FROM_DEVICE);
	if (dma_mapping_error(dev, s) || dma_mapping_error(dev, d)) {
		check("kernel-dma-api-data", false, "map failed");
		return;
	}
	ret = edu_xfer(edu_plain.mmio, s, EDU_BUF, EDU_LEN, false);
	if (!ret)
		ret = edu_xfer(edu_plain.mmio, EDU_BUF, d, EDU_LEN, true);
	dma_unmap_single(dev, s, EDU_LEN, DMA_TO_DEVICE);
	dma_unmap_single(dev, d, EDU_LEN, DMA_FROM_DEVICE);
	check("kernel-dma-api-data", !ret && !memcmp(src, dst, EDU_LEN), "dma=%llx/%llx",
	      (u64)s, (u64)d);
	costs[5] = cost_kernel();
}

static int edu_setup(struct pci_dev *pdev, struct edu *e)
{
	int ret = pcim_enable_device(pdev);

	if (ret)
		return ret;
	e->mmio = pcim_iomap(pdev, 0, 0);
	if (!e->mmio)
		return -ENOMEM;
	pci_set_master(pdev);
	e->pdev = pdev;
	return 0;
}

static int iovx_edu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct iommu_domain *d;
	int ret;

	if (PCI_SLOT(pdev->devfn) != IOVX_EDU_SLOT || edu_iovx.pdev)
		return -ENODEV;
	ret = edu_setup(pdev, &edu_iovx);
	if (ret)
		return ret;
	d = iovx_kernel_paging_domain_alloc(&pdev->dev);
	if (IS_ERR(d))
		return PTR_ERR(d);
	ret = iommu_attach_device(d, &pdev->dev);
	if (ret) {
		iommu_domain_free(d);
		return ret;
	}
	edu_iovx.domain = d;
	edu_iovx.attached = true;
	return 0;
}

static void iovx_edu_remove(struct pci_dev *pdev)
{
	if (kd_keep && leak_on_exit) {
		/* Never touched again: only its module reference matters (rmmod iovx fails). */
		pr_info(EDU_PFX "leaving domain edu alive\n");
		kd_keep = NULL;
	}
	if (kd_keep) {
		iovx_dma_unmap_single(iovx_kdomain_dma(kd_keep), keep_dma, EDU_LEN,
				      IOVX_DMA_TO_DEVICE, 0);
		iovx_kdomain_destroy(kd_keep);
		kd_keep = NULL;
	}
	if (edu_iovx.attached)
		iommu_detach_device(edu_iovx.domain, &pdev->dev);
	if (edu_iovx.domain)
		iommu_domain_free(edu_iovx.domain);
	memset(&edu_iovx, 0, sizeof(edu_iovx));
}

static int iovx_edu_plain_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int ret;

	if (PCI_SLOT(pdev->devfn) != IOVX_EDU_PLAIN_SLOT || edu_plain.pdev)
		return -ENODEV;
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	return edu_setup(pdev, &edu_plain);
}

static void iovx_edu_plain_remove(struct pci_dev *pdev)
{
	memset(&edu_plain, 0, sizeof(edu_plain));
}

static const struct pci_device_id iovx_edu_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ }
};
MODULE_DEVICE_TABLE(pci, iovx_edu_ids);

static struct pci_driver iovx_edu_driver = {
	.name = "iovx_edu",
	.id_table = iovx_edu_ids,
	.probe = iovx_edu_probe,
	.remove = iovx_edu_remove,
	.driver_managed_dma = true,
};

static struct pci_driver iovx_edu_plain_driver = {
	.name = "iovx_edu_plain",
	.id_table = iovx_edu_ids,
	.probe = iovx_edu_plain_probe,
	.remove = iovx_edu_plain_remove,
};

static void run_all(void)
{
	unsigned int i;

	pr_info(EDU_PFX "start iommu-domain=%s default-domain-type=%s\n",
		edu_iovx.domain ? "own" : "none",
		iommu_get_domain_for_dev(&edu_plain.pdev->dev) ?
		(iommu_get_domain_for_dev(&edu_plain.pdev->dev)->type == IOMMU_DOMAIN_DMA_FQ ?
		 "DMA-FQ (lazy)" : iommu_get_domain_for_dev(&edu_plain.pdev->dev)->type ==
		 IOMMU_DOMAIN_DMA ? "DMA (strict)" : "other") : "none");
	test_bad_args();
	test_strict();
	test_deferred();
	test_revive();
	test_reuse();
	test_bounce();
	test_bounce_calibrated();
	test_plain();
	for (i = 0; i < ARRAY_SIZE(costs); i++)
		pr_info(EDU_PFX "cost %s ns_per_map_unmap=%llu x_kernel=%llu.%02llu (4095 B, %u pairs; TCG: relative only)\n",
			cost_names[i], costs[i], costs[5] ? costs[i] / costs[5] : 0,
			costs[5] ? costs[i] * 100 / costs[5] % 100 : 0, IOVX_EDU_COST_ITERS);
	/* One domain stays, with one live mapping, for debugfs and the unload checks. */
	kd_keep = make("edu", IOVX_DMA_MODE_STRICT, 0);
	if (kd_keep)
		check("keep-map", !iovx_dma_map_single(iovx_kdomain_dma(kd_keep),
						       virt_to_phys(src), EDU_LEN,
						       IOVX_DMA_TO_DEVICE, 0, &keep_dma), NULL);
}

static int __init iovx_edu_init(void)
{
	int ret;

	src = kmalloc(PAGE_SIZE, GFP_KERNEL);
	dst = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!src || !dst) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = pci_register_driver(&iovx_edu_driver);
	if (ret)
		goto fail;
	ret = pci_register_driver(&iovx_edu_plain_driver);
	if (ret) {
		pci_unregister_driver(&iovx_edu_driver);
		goto fail;
	}
	if (edu_iovx.pdev && edu_plain.pdev)
		run_all();
	else
		check("devices", false, "iovx edu %s, plain edu %s (slots %#x, %#x)",
		      edu_iovx.pdev ? "bound" : "missing", edu_plain.pdev ? "bound" : "missing",
		      IOVX_EDU_SLOT, IOVX_EDU_PLAIN_SLOT);
	pr_info(EDU_PFX "result %s checks=%u failed=%u\n", checks.failed ? "FAIL" : "PASS",
		checks.n, checks.failed);
	return 0;
fail:
	kfree(src);
	kfree(dst);
	return ret;
}

static void __exit iovx_edu_exit(void)
{
	pci_unregister_driver(&iovx_edu_plain_driver);
	pci_unregister_driver(&iovx_edu_driver);
	kfree(src);
	kfree(dst);
}

module_init(iovx_edu_init);
module_exit(iovx_edu_exit);

MODULE_LICENSE("Dual BSD/GPL");
MODULE_DESCRIPTION("iovx end to end on QEMU's edu device behind an IOMMU");
MODULE_AUTHOR("The iovx authors");
