// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * iovx_kpt.c - the DMA API of a kernel with the dma-iommu series (kernel-glue/patches/),
 * driven through QEMU's edu device (PCI 1234:11e8, a DMA engine) in PCI slot
 * IOVX_KPT_SLOT, behind VT-d in the device's default DMA domain (strict or DMA-FQ, as
 * iommu.strict says). Built out of tree against the kernel's kbuild-out by
 * tests/kernel/run-patched.sh; on the unpatched kernel only the plain checks exist.
 *
 * Checks, each decided by data (DMAR fault lines are rate-limited; a dropped DMA leaves no
 * other trace):
 *   plain-dma                dma_map_single of a source and a destination buffer, the
 *                            device copies source -> its buffer -> destination, unmap,
 *                            the bytes compare
 * With the series (CONFIG_IOMMU_IOVX):
 *   reuse-mark               sg_mark_reusable of a two-page list
 *   reuse-dma-mapped         the first dma_map_sg of it carries DMA both ways
 *   reuse-same-iova          IOVX_KPT_ROUNDS map+unmap rounds return the same DMA address
 *                            and segments every time, and the domain's reuse table counts
 *                            one miss and a hit for every later round
 *   reuse-dma-tagged         after the last unmap (tagged, not stopped) the device still
 *                            reads and writes the pages at the old IOVA (the table keeps
 *                            the translation: what reuse is)
 *   reuse-stop               sg_mark_stop_reuse tears the table entry down (count >= 1)
 *   reuse-stopped-write      a device write to the stopped list's old IOVA leaves the page
 *                            as it was
 *   reuse-stopped-read       a device read from the old IOVA does not see the page's new
 *                            bytes (the device buffer, stored to a probe, holds other ones)
 *   reuse-single-same-iova   dma_map_single with DMA_ATTR_IOVX_REUSE, IOVX_KPT_ROUNDS
 *                            rounds, one address
 *   reuse-single-stopped     after dma_buf_stop_reuse a device write to it lands nowhere
 *   untagged-normal          an untagged map of the stopped list works and carries DMA
 * Output: "iovx-kpt: <check> PASS|FAIL [details]", then "iovx-kpt: result PASS|FAIL
 * checks=N failed=F".
 */
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/string.h>

#ifdef CONFIG_IOMMU_IOVX		/* the series is applied: the header exists */
#include <linux/iommu-iovx.h>
#endif

#include "edu_dev.h"

#define IOVX_KPT_SLOT		0x10
#define IOVX_KPT_ROUNDS		64

#define KPT_PFX			"iovx-kpt: "

static struct pci_dev *kpt_pdev;
static void __iomem *kpt_mmio;
static struct edu_checks checks = { .prefix = KPT_PFX };
#define check(...)	edu_check(&checks, __VA_ARGS__)

/* The plain DMA API: map both buffers, source -> device -> destination, unmap, compare. */
static void test_plain(void)
{
	struct device *dev = &kpt_pdev->dev;
	u8 *src = kmalloc(PAGE_SIZE, GFP_KERNEL), *dst = kmalloc(PAGE_SIZE, GFP_KERNEL);
	dma_addr_t s, d;
	int a = -ENOMEM, b = -ENOMEM;

	if (!src || !dst)
		goto out;
	edu_fill(src, 0x31);
	memset(dst, 0, EDU_LEN);
	s = dma_map_single(dev, src, EDU_LEN, DMA_TO_DEVICE);
	d = dma_map_single(dev, dst, EDU_LEN, DMA_FROM_DEVICE);
	if (dma_mapping_error(dev, s) || dma_mapping_error(dev, d)) {
		check("plain-dma", false, "map failed");
		goto out;
	}
	a = edu_load(kpt_mmio, s);
	b = edu_store(kpt_mmio, d);
	dma_unmap_single(dev, s, EDU_LEN, DMA_TO_DEVICE);
	dma_unmap_single(dev, d, EDU_LEN, DMA_FROM_DEVICE);
	check("plain-dma", !a && !b && !memcmp(src, dst, EDU_LEN),
	      "dma=%pad/%pad edu=%d/%d", &s, &d, a, b);
out:
	kfree(src);
	kfree(dst);
}

#ifdef CONFIG_IOMMU_IOVX
/*
 * Device round trip through the list's two pages at their bus addresses: page 0's bytes
 * (fresh pattern) -> device buffer -> page 1. True when page 1 then holds them.
 */
static bool round_trip(u8 *p0, u8 *p1, dma_addr_t d0, dma_addr_t d1, u8 seed)
{
	edu_fill(p0, seed);
	memset(p1, 0, EDU_LEN);
	if (edu_load(kpt_mmio, d0) || edu_store(kpt_mmio, d1))
		return false;
	return !memcmp(p0, p1, EDU_LEN);
}

/* The bus address of the list's page i after a map that returned n DMA segments. */
static dma_addr_t page_bus(struct scatterlist *sg, int n, int i)
{
	if (n == 1)
		return sg_dma_address(sg) + (dma_addr_t)i * PAGE_SIZE;
	return sg_dma_address(i ? sg_next(sg) : sg);
}

static void test_reuse_sg(void)
{
	struct device *dev = &kpt_pdev->dev;
	struct page *pg[2] = { alloc_page(GFP_KERNEL), alloc_page(GFP_KERNEL) };
	struct dma_reuse_stats st0, st1;
	struct scatterlist sg[2];
	dma_addr_t d0 = 0, d1 = 0, first0 = 0, first1 = 0;
	u8 *p0, *p1, *probe = kmalloc(PAGE_SIZE, GFP_KERNEL);
	int i, n, n0 = 0, ret, same = 0, sret;
	bool dma_ok = false;

	if (!pg[0] || !pg[1] || !probe) {
		check("reuse-mark", false, "no memory");
		goto out;
	}
	p0 = page_address(pg[0]);
	p1 = page_address(pg[1]);
	sg_init_table(sg, 2);
	sg_set_page(&sg[0], pg[0], PAGE_SIZE, 0);
	sg_set_page(&sg[1], pg[1], PAGE_SIZE, 0);
	ret = sg_mark_reusable(sg, 2);
	check("reuse-mark", !ret, "ret=%d", ret);
	if (ret)
		goto out;
	ret = dma_reuse_stats(dev, &st0);
	if (ret) {
		check("reuse-same-iova", false, "dma_reuse_stats: %d", ret);
		goto out;
	}
	for (i = 0; i < IOVX_KPT_ROUNDS; i++) {
		n = dma_map_sg(dev, sg, 2, DMA_BIDIRECTIONAL);
		if (n <= 0)
			break;
		d0 = page_bus(sg, n, 0);
		d1 = page_bus(sg, n, 1);
		if (!i) {
			n0 = n;
			first0 = d0;
			first1 = d1;
			dma_ok = round_trip(p0, p1, d0, d1, 0x52);
		}
		same += n == n0 && d0 == first0 && d1 == first1;
		dma_unmap_sg(dev, sg, 2, DMA_BIDIRECTIONAL);
	}
	check("reuse-dma-mapped", dma_ok, "iova=%pad/%pad", &first0, &first1);
	ret = dma_reuse_stats(dev, &st1);
	check("reuse-same-iova", !ret && i == IOVX_KPT_ROUNDS && same == IOVX_KPT_ROUNDS &&
	      st1.misses - st0.misses == 1 && st1.hits - st0.hits == IOVX_KPT_ROUNDS - 1,
	      "rounds=%d same=%d segs=%d iova=%pad hits=%llu misses=%llu entries=%llu",
	      i, same, n0, &first0, st1.hits - st0.hits, st1.misses - st0.misses, st1.entries);
	if (i != IOVX_KPT_ROUNDS)
		goto out;
	/* Unmapped but tagged: the table keeps the translation, the device still uses it. */
	check("reuse-dma-tagged", round_trip(p0, p1, first0, first1, 0x63), NULL);
	/* The device buffer now holds page 0's bytes (seed 0x63). */
	sret = sg_mark_stop_reuse(sg, 2);
	ret = dma_reuse_stats(dev, &st1);
	check("reuse-stop", sret >= 1 && !ret && st1.entries == st0.entries &&
	      !(sg[0].dma_flags & SG_DMA_IOVX_REUSE), "torn-down=%d stops=%llu entries=%llu",
	      sret, st1.stops - st0.stops, st1.entries);
	memset(p1, EDU_POISON, EDU_LEN);
	ret = edu_store(kpt_mmio, first1);
	check("reuse-stopped-write", !ret && edu_all(p1, EDU_POISON), "edu=%d", ret);
	/* A read of the old IOVA: the device buffer keeps its bytes, not page 0's new ones. */
	edu_fill(p0, 0x74);
	ret = edu_load(kpt_mmio, first0);
	if (!ret) {
		dma_addr_t pr = dma_map_single(dev, probe, EDU_LEN, DMA_FROM_DEVICE);

		if (dma_mapping_error(dev, pr)) {
			ret = -ENOMEM;
		} else {
			memset(probe, EDU_POISON, EDU_LEN);
			ret = edu_store(kpt_mmio, pr);
			dma_unmap_single(dev, pr, EDU_LEN, DMA_FROM_DEVICE);
		}
	}
	/*
	 * The device's buffer went to the probe (no poison left), and it does not hold the
	 * page's new bytes: a faulted read leaves it as QEMU's failed DMA read makes it.
	 */
	check("reuse-stopped-read",
	      !ret && !edu_all(probe, EDU_POISON) && memcmp(probe, p0, EDU_LEN),
	      "edu=%d probe[0..1]=%02x%02x page[0..1]=%02x%02x", ret, probe[0], probe[1], p0[0],
	      p0[1]);
	/* Untagged now: the usual path, and it carries DMA. */
	n = dma_map_sg(dev, sg, 2, DMA_BIDIRECTIONAL);
	if (n > 0) {
		dma_ok = round_trip(p0, p1, page_bus(sg, n, 0), page_bus(sg, n, 1), 0x85);
		dma_unmap_sg(dev, sg, 2, DMA_BIDIRECTIONAL);
	}
	ret = dma_reuse_stats(dev, &st0);
	check("untagged-normal", n > 0 && dma_ok && !ret && st0.misses == st1.misses &&
	      st0.hits == st1.hits, "segs=%d", n);
out:
	kfree(probe);
	if (pg[0])
		__free_page(pg[0]);
	if (pg[1])
		__free_page(pg[1]);
}

static void test_reuse_single(void)
{
	struct device *dev = &kpt_pdev->dev;
	u8 *buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	dma_addr_t d, first = 0;
	int i, same = 0, sret, ret;

	if (!buf) {
		check("reuse-single-same-iova", false, "no memory");
		return;
	}
	for (i = 0; i < IOVX_KPT_ROUNDS; i++) {
		d = dma_map_single_attrs(dev, buf, EDU_LEN, DMA_FROM_DEVICE, DMA_ATTR_IOVX_REUSE);
		if (dma_mapping_error(dev, d))
			break;
		if (!i)
			first = d;
		same += d == first;
		dma_unmap_single_attrs(dev, d, EDU_LEN, DMA_FROM_DEVICE, DMA_ATTR_IOVX_REUSE);
	}
	check("reuse-single-same-iova", i == IOVX_KPT_ROUNDS && same == IOVX_KPT_ROUNDS,
	      "rounds=%d same=%d iova=%pad", i, same, &first);
	if (i != IOVX_KPT_ROUNDS)
		goto out;
	sret = dma_buf_stop_reuse(virt_to_phys(buf), EDU_LEN);
	memset(buf, EDU_POISON, EDU_LEN);
	ret = edu_store(kpt_mmio, first);
	check("reuse-single-stopped", sret >= 1 && !ret && edu_all(buf, EDU_POISON),
	      "torn-down=%d edu=%d", sret, ret);
out:
	kfree(buf);
}
#endif

static int kpt_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int ret;

	if (PCI_SLOT(pdev->devfn) != IOVX_KPT_SLOT || kpt_pdev)
		return -ENODEV;
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	kpt_mmio = pcim_iomap(pdev, 0, 0);
	if (!kpt_mmio)
		return -ENOMEM;
	pci_set_master(pdev);
	kpt_pdev = pdev;
	return 0;
}

static void kpt_remove(struct pci_dev *pdev)
{
	kpt_pdev = NULL;
	kpt_mmio = NULL;
}

static const struct pci_device_id kpt_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ }
};
MODULE_DEVICE_TABLE(pci, kpt_ids);

static struct pci_driver kpt_driver = {
	.name = "iovx_kpt",
	.id_table = kpt_ids,
	.probe = kpt_probe,
	.remove = kpt_remove,
};

static int __init kpt_init(void)
{
	int ret = pci_register_driver(&kpt_driver);

	if (ret)
		return ret;
	if (!kpt_pdev) {
		check("device", false, "no edu device in slot %#x", IOVX_KPT_SLOT);
	} else {
		pr_info(KPT_PFX "start %s, series %s\n", pci_name(kpt_pdev),
			IS_ENABLED(CONFIG_IOMMU_IOVX) ? "applied" : "absent");
		test_plain();
#ifdef CONFIG_IOMMU_IOVX
		test_reuse_sg();
		test_reuse_single();
#endif
	}
	pr_info(KPT_PFX "result %s checks=%u failed=%u\n", checks.failed ? "FAIL" : "PASS",
		checks.n, checks.failed);
	return 0;
}

static void __exit kpt_exit(void)
{
	pci_unregister_driver(&kpt_driver);
}

module_init(kpt_init);
module_exit(kpt_exit);

MODULE_LICENSE("Dual BSD/GPL");
MODULE_DESCRIPTION("iovx: the DMA API and reuse tags of a patched kernel on QEMU's edu device");
MODULE_AUTHOR("The iovx authors");
