// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * buddy.c - the allocator's lock-free backend: a buddy system over sparse hierarchical
 * bitmaps.
 *
 * What and why. Every block handed out is a power-of-two, size-aligned run of granules (the
 * kernel's size_aligned IOVA semantics), so a buddy system fits. Each order k has a bitmap
 * with one bit per aligned block of 2^k granules ("bit set" = that block is free, whole, and
 * not part of a larger free block). A bitmap is a 64-ary tree: leaves of 4096 bits and
 * inner nodes whose summary word says which children may hold a set bit, so the highest
 * free block below a DMA limit is found in O(depth) word operations instead of a scan, and
 * a 48-bit domain costs memory only where it has been split. Nodes are created on first
 * use and kept until the domain is destroyed, which is what lets readers walk them without
 * any reclamation scheme. Buddies of one order are bits 2i and 2i+1 of the same word, so a
 * merge takes both with one single-word CAS.
 *
 * Invariants (upholding I1 and I6 for the backend):
 *   B1 a granule is covered by at most one set bit over all orders (taking a block is a
 *      successful test-and-clear, so it has one owner);
 *   B2 a set bit covers only granules inside [start_pfn, end_pfn), pfn 0 excluded;
 *   B3 summaries are hints that may be stale-set but, once every call has returned, are
 *      never stale-clear: whoever turns a word or summary from 0 to non-zero sets the
 *      parent's bit (continuing upward while the parent's summary was 0); whoever clears a
 *      summary bit re-reads the child afterwards and sets the bit again (same rule) if the
 *      child is not empty.
 *   B4 the last of two freed buddies to be set sees both bits and merges them (or an
 *      allocator took one first); pairs are never left split once calls return.
 *
 * Progress: alloc, free and carve are lock-free: every loop retries only because another
 * thread's CAS or test-and-clear succeeded. A thread stopped anywhere holds at most the
 * blocks it has claimed; it never prevents others from finding or freeing other blocks.
 *
 * Synchronization: all operations may run concurrently with each other; walk and destroy
 * need a quiescent domain.
 *
 * Ordering edges:
 *   E-B1 node publication: the CAS (release) installing a child pairs with the acquire load
 *        of child pointers in every walk.
 *   E-B2 free-bit hand-over: a free's fetch_or/CAS (release) pairs with the allocating
 *        test-and-clear (acquire), so the block's previous owner's accesses happen before
 *        the new owner's.
 *   E-B3 summary maintenance (B3): clear-then-recheck against set-child-then-set-parent;
 *        the read-modify-writes are acq_rel and a seq_cst fence separates the clear from
 *        the re-read, so one side always sees the other.
 *   E-B4 leaf hint (checked mode's lookups): its store-release pairs with its load-acquire.
 */
#include "iova_internal.h"

#define SHB_MAX_LEVELS 8

static inline unsigned int shb_shift(unsigned int level)
{
	/* index bits consumed below an inner node of this level (level >= 1) */
	return SHB_LEAF_SHIFT + SHB_FANOUT_SHIFT * (level - 1);
}

static inline uint64_t mask_upto(unsigned int bit)
{
	return bit >= 63 ? ~0ull : (2ull << bit) - 1;
}

/* summary is the first word of both node kinds */
static inline uint64_t *node_summary(void *node)
{
	return (uint64_t *)node;
}

/* Entries (words or children) of the root: what indices below nbits reach. */
static inline unsigned int shb_root_entries(const struct shb *s)
{
	unsigned int shift = s->levels ? shb_shift(s->levels) : SHB_FANOUT_SHIFT;

	return (unsigned int)((s->nbits - 1) >> shift) + 1;
}

int iovx_shb_init(struct shb *s, uint64_t nbits, uint64_t *mem_bytes)
{
	unsigned int idx_bits = iovx_fls64(nbits ? nbits - 1 : 0);
	size_t sz;

	s->nbits = nbits;
	s->mem_bytes = mem_bytes;
	s->levels = 0;
	s->hint = NULL;
	while (idx_bits > SHB_LEAF_SHIFT + SHB_FANOUT_SHIFT * s->levels)
		s->levels++;
	if (s->levels > SHB_MAX_LEVELS)
		return -EINVAL;
	if (!nbits)
		return -EINVAL;
	/* a truncated root: every index below nbits stays inside it (see shb_leaf) */
	if (s->levels)
		sz = offsetof(struct shb_inner, child) + shb_root_entries(s) * sizeof(void *);
	else
		sz = offsetof(struct shb_leaf, w) + shb_root_entries(s) * sizeof(uint64_t);
	s->root = iovx_zalloc_aligned(sz, IOVX_CACHELINE, IOVX_GFP_KERNEL);
	if (!s->root)
		return -ENOMEM;
	iovx_fetch_add_relaxed(mem_bytes, sz);
	return 0;
}

/* Frees the tree iteratively: no recursion in portable code (kernel stacks are small). */
void iovx_shb_destroy(struct shb *s)
{
	struct shb_inner *stack[SHB_MAX_LEVELS + 1];
	unsigned int pos[SHB_MAX_LEVELS + 1];
	int top;

	s->hint = NULL;
	if (!s->root)
		return;
	if (!s->levels) {
		iovx_free(s->root);
		s->root = NULL;
		return;
	}
	top = 0;
	stack[0] = s->root;
	pos[0] = 0;
	while (top >= 0) {
		struct shb_inner *n = stack[top];
		unsigned int level = s->levels - (unsigned int)top;

		if (pos[top] == (top ? SHB_FANOUT : shb_root_entries(s))) {
			iovx_free(n);
			top--;
			continue;
		}
		void *ch = n->child[pos[top]++];

		if (!ch)
			continue;
		if (level == 1) {
			iovx_free(ch);
		} else {
			top++;
			stack[top] = ch;
			pos[top] = 0;
		}
	}
	s->root = NULL;
}

/*
 * Walks from the root toward idx, filling pn[level] (pn[0] is the leaf) and pc[level] (the
 * child or word index taken there). Creates missing nodes when 'create'. Returns false if a
 * node is missing (or could not be created).
 */
static bool shb_path(struct shb *s, uint64_t idx, bool create, unsigned int gfp,
		     void **pn, unsigned int *pc)
{
	void *node = s->root;
	unsigned int level;

	if (iovx_unlikely(idx >= s->nbits))
		return false;

	for (level = s->levels; level >= 1; level--) {
		struct shb_inner *in = node;
		unsigned int ci = (unsigned int)(idx >> shb_shift(level)) & (SHB_FANOUT - 1);
		void *ch = iovx_load_acquire(&in->child[ci]);	/* E-B1 */

		pn[level] = node;
		pc[level] = ci;
		if (iovx_unlikely(!ch)) {
			void *expect = NULL;
			size_t sz = level == 1 ? sizeof(struct shb_leaf) : sizeof(struct shb_inner);

			if (!create)
				return false;
			ch = iovx_zalloc_aligned(sz, IOVX_CACHELINE, gfp);
			if (!ch)
				return false;
			if (level == 1)	/* published by the CAS below (E-B1) */
				((struct shb_leaf *)ch)->base = idx >> SHB_LEAF_SHIFT;
			if (iovx_cmpxchg_acq_rel(&in->child[ci], &expect, ch)) {	/* E-B1 */
				iovx_fetch_add_relaxed(s->mem_bytes, sz);
			} else {
				iovx_free(ch);		/* another thread installed it first */
				ch = expect;
			}
		}
		node = ch;
	}
	pn[0] = node;
	pc[0] = (unsigned int)(idx >> SHB_FANOUT_SHIFT) & (SHB_FANOUT - 1);
	return true;
}

uint64_t *iovx_shb_word(struct shb *s, uint64_t idx, bool create, unsigned int gfp)
{
	void *pn[SHB_MAX_LEVELS + 1];
	unsigned int pc[SHB_MAX_LEVELS + 1];

	if (!shb_path(s, idx, create, gfp, pn, pc))
		return NULL;
	return &((struct shb_leaf *)pn[0])->w[pc[0]];
}

/*
 * The hint is one word (a leaf pointer), and a leaf records its own base, so a racy hint is
 * harmless: it is used only when its leaf is the one idx needs. Leaves live as long as the
 * bitmap. E-B4: the hint's store-release pairs with its load-acquire, so a reader sees the
 * leaf's base (itself published by E-B1 to whoever stored the hint).
 */
uint64_t *iovx_shb_word_hint(struct shb *s, uint64_t idx, bool create, unsigned int gfp)
{
	struct shb_leaf *l = iovx_load_acquire(&s->hint);			/* E-B4 */
	void *pn[SHB_MAX_LEVELS + 1];
	unsigned int pc[SHB_MAX_LEVELS + 1];

	if (iovx_likely(l && l->base == idx >> SHB_LEAF_SHIFT && idx < s->nbits))
		return &l->w[(idx >> SHB_FANOUT_SHIFT) & (SHB_FANOUT - 1)];
	if (!shb_path(s, idx, create, gfp, pn, pc))
		return NULL;
	iovx_store_release(&s->hint, (struct shb_leaf *)pn[0]);		/* E-B4 */
	return &((struct shb_leaf *)pn[0])->w[pc[0]];
}

/* Clears bit idx of word w (NULL: not there); true when this call cleared it. */
static bool word_test_and_clear(uint64_t *w, uint64_t idx)
{
	uint64_t bit = 1ull << (idx & 63);

	if (!w || !(iovx_load_relaxed(w) & bit))
		return false;
	/* Empty words keep their summary bit: searchers clear stale bits (B3). */
	return iovx_fetch_and_acq_rel(w, ~bit) & bit;	/* E-B2 */
}

bool iovx_shb_test_and_clear_hint(struct shb *s, uint64_t idx)
{
	return word_test_and_clear(iovx_shb_word_hint(s, idx, false, 0), idx);
}

/* B3: set summary bits from 'level' upward while the summary was empty before. */
static void shb_propagate(struct shb *s, void **pn, unsigned int *pc, unsigned int level)
{
	for (; level <= s->levels; level++) {
		uint64_t old = iovx_fetch_or_acq_rel(node_summary(pn[level]),
						     1ull << pc[level]);	/* E-B3 */
		if (old)
			break;
	}
}

void iovx_shb_mark(struct shb *s, uint64_t idx)
{
	void *pn[SHB_MAX_LEVELS + 1];
	unsigned int pc[SHB_MAX_LEVELS + 1];

	if (shb_path(s, idx, false, 0, pn, pc))
		shb_propagate(s, pn, pc, 0);
}

uint64_t iovx_shb_set(struct shb *s, uint64_t idx)
{
	uint64_t *w = iovx_shb_word(s, idx, false, 0);
	uint64_t old;

	if (IOVX_WARN_ON(!w))
		return 0;
	old = iovx_fetch_or_acq_rel(w, 1ull << (idx & 63));	/* E-B2 */
	if (!old)
		iovx_shb_mark(s, idx);
	return old;
}

bool iovx_shb_test_and_clear(struct shb *s, uint64_t idx)
{
	return word_test_and_clear(iovx_shb_word(s, idx, false, 0), idx);
}

bool iovx_shb_test(struct shb *s, uint64_t idx)
{
	uint64_t *w = iovx_shb_word(s, idx, false, 0);

	return w && (iovx_load_acquire(w) & (1ull << (idx & 63)));
}

/*
 * Clears bit 'ci' of the summary of pn[level] because the child looked empty, then re-reads
 * the child (its summary, or the word at level 0) and restores the bit if it is not (B3).
 */
static void shb_clear_stale(struct shb *s, void **pn, unsigned int *pc, unsigned int level,
			    const uint64_t *child)
{
	iovx_fetch_and_acq_rel(node_summary(pn[level]), ~(1ull << pc[level]));	/* E-B3 */
	iovx_fence_seq_cst();							/* E-B3 */
	if (iovx_load_acquire(child))
		shb_propagate(s, pn, pc, level);
}

int64_t iovx_shb_find_last_below(struct shb *s, uint64_t lim)
{
	void *pn[SHB_MAX_LEVELS + 1];
	unsigned int pc[SHB_MAX_LEVELS + 1];
	uint64_t x;

	if (lim > s->nbits)
		lim = s->nbits;
	if (!lim)
		return -1;
	x = lim - 1;
restart:
	pn[s->levels] = s->root;
	for (unsigned int level = s->levels; level >= 1; level--) {
		struct shb_inner *in = pn[level];
		unsigned int shift = shb_shift(level);
		unsigned int span = shift + SHB_FANOUT_SHIFT;
		unsigned int ci = (unsigned int)(x >> shift) & (SHB_FANOUT - 1);
		uint64_t all = iovx_load_acquire(&in->summary);
		uint64_t sum = all & mask_upto(ci);
		unsigned int j;
		void *ch;

		if (!sum) {
			if (!all && level < s->levels)
				shb_clear_stale(s, pn, pc, level + 1, &in->summary);
			if (!(x >> span))
				return -1;
			x = ((x >> span) << span) - 1;	/* below this node */
			goto restart;
		}
		j = 63 - iovx_clz64(sum);
		if (j < ci)
			x = ((((x >> span) << SHB_FANOUT_SHIFT) | j) << shift) |
			    ((1ull << shift) - 1);
		pc[level] = j;
		ch = iovx_load_acquire(&in->child[j]);	/* E-B1 */
		if (!ch) {
			/* a summary bit for a child never created: stale, drop it */
			iovx_fetch_and_acq_rel(&in->summary, ~(1ull << j));
			if (!(x >> shift))
				return -1;
			x = ((x >> shift) << shift) - 1;
			goto restart;
		}
		pn[level - 1] = ch;
	}

	struct shb_leaf *leaf = pn[0];
	unsigned int wi = (unsigned int)(x >> SHB_FANOUT_SHIFT) & (SHB_FANOUT - 1);
	uint64_t all = iovx_load_acquire(&leaf->summary);
	uint64_t sum = all & mask_upto(wi);
	unsigned int j;
	uint64_t word, m;

	if (!sum) {
		if (!all && s->levels)
			shb_clear_stale(s, pn, pc, 1, &leaf->summary);
		if (!(x >> SHB_LEAF_SHIFT))
			return -1;
		x = ((x >> SHB_LEAF_SHIFT) << SHB_LEAF_SHIFT) - 1;
		goto restart;
	}
	j = 63 - iovx_clz64(sum);
	if (j < wi)
		x = ((x >> SHB_LEAF_SHIFT) << SHB_LEAF_SHIFT) | ((uint64_t)j << 6) | 63;
	word = iovx_load_acquire(&leaf->w[j]);
	m = word & mask_upto((unsigned int)(x & 63));
	if (!m) {
		if (!word) {
			pc[0] = j;
			shb_clear_stale(s, pn, pc, 0, &leaf->w[j]);
		}
		if (!(x >> SHB_FANOUT_SHIFT))
			return -1;
		x = ((x >> SHB_FANOUT_SHIFT) << SHB_FANOUT_SHIFT) - 1;
		goto restart;
	}
	return (int64_t)(((x >> 6) << 6) | (63 - iovx_clz64(m)));
}

/* ------------------------------------------------------------------ buddy */

static inline struct buddy_pcpu *buddy_pc(struct buddy *b)
{
	return &b->pc[iovx_cpu_hint() % b->nr_pc];
}

static inline void count_free(struct buddy *b, int64_t granules)
{
	iovx_fetch_add_relaxed(&buddy_pc(b)->free_delta, granules);
}

uint64_t iovx_buddy_free_granules(struct buddy *b)
{
	int64_t sum = 0;

	for (unsigned int i = 0; i < b->nr_pc; i++)
		sum += iovx_load_relaxed(&b->pc[i].free_delta);
	return (uint64_t)sum;
}

uint64_t iovx_buddy_allocs(struct buddy *b)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i < b->nr_pc; i++)
		sum += iovx_load_relaxed(&b->pc[i].allocs);
	return sum;
}

uint64_t iovx_buddy_frees(struct buddy *b)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i < b->nr_pc; i++)
		sum += iovx_load_relaxed(&b->pc[i].frees);
	return sum;
}

static inline uint64_t shb_bits_for(uint64_t end_pfn, unsigned int order)
{
	return ((end_pfn - 1) >> order) + 1;
}

int iovx_buddy_init(struct buddy *b, uint64_t start_pfn, uint64_t end_pfn, uint64_t *mem)
{
	unsigned int k;
	uint64_t pfn;
	int ret;

	if (start_pfn < 1)
		start_pfn = 1;		/* pfn 0 is never handed out */
	if (start_pfn >= end_pfn)
		return -EINVAL;
	b->start_pfn = start_pfn;
	b->end_pfn = end_pfn;
	b->max_order = iovx_fls64(end_pfn - 1);
	if (b->max_order > IOVX_BUDDY_MAX_ORDER)
		b->max_order = IOVX_BUDDY_MAX_ORDER;
	b->nr_pc = iovx_nr_cpu_ids();
	b->pc = iovx_zalloc_aligned(b->nr_pc * sizeof(*b->pc), IOVX_CACHELINE, IOVX_GFP_KERNEL);
	if (!b->pc)
		return -ENOMEM;
	iovx_fetch_add_relaxed(mem, b->nr_pc * sizeof(*b->pc));
	for (k = 0; k <= b->max_order; k++) {
		ret = iovx_shb_init(&b->bm[k], shb_bits_for(end_pfn, k), mem);
		if (ret)
			goto fail;
	}
	/* Seed the free space with maximal aligned blocks, as memory is handed to a buddy. */
	for (pfn = start_pfn; pfn < end_pfn;) {
		unsigned int o = iovx_ctz64(pfn);
		unsigned int fit = iovx_fls64(end_pfn - pfn) - 1;

		if (o > fit)
			o = fit;
		if (o > b->max_order)
			o = b->max_order;
		if (!iovx_shb_word(&b->bm[o], pfn >> o, true, IOVX_GFP_KERNEL)) {
			ret = -ENOMEM;
			k = b->max_order + 1;
			goto fail;
		}
		iovx_shb_set(&b->bm[o], pfn >> o);
		pfn += 1ull << o;
	}
	b->pc[0].free_delta = (int64_t)(end_pfn - start_pfn);
	return 0;
fail:
	while (k--)
		iovx_shb_destroy(&b->bm[k]);
	iovx_free(b->pc);
	b->pc = NULL;
	return ret;
}

void iovx_buddy_destroy(struct buddy *b)
{
	for (unsigned int k = 0; k <= b->max_order; k++)
		iovx_shb_destroy(&b->bm[k]);
	iovx_free(b->pc);
	b->pc = NULL;
}

/* Puts a block back and merges it with its buddies; the caller does the accounting. */
static void buddy_release(struct buddy *b, uint64_t pfn, unsigned int order)
{
	uint64_t idx = pfn >> order;

	/* B2: what is set lies inside the domain (merges stay inside: both halves were) */
	iovx_assert(pfn && pfn >= b->start_pfn && pfn + (1ull << order) <= b->end_pfn);

	for (;;) {
		uint64_t *w, bit, pair, cur;

		bit = 1ull << (idx & 63);
		if (order >= b->max_order) {
			cur = iovx_shb_set(&b->bm[order], idx);
			iovx_assert(!(cur & bit));	/* B1: a block is freed by its one owner */
			return;
		}
		w = iovx_shb_word(&b->bm[order], idx, false, 0);
		if (IOVX_WARN_ON(!w))	/* the word existed when the block was taken */
			return;
		pair = 3ull << (idx & 62);
		cur = iovx_fetch_or_acq_rel(w, bit);	/* E-B2 */
		iovx_assert(!(cur & bit));		/* B1 */
		if (!cur)
			iovx_shb_mark(&b->bm[order], idx);
		IOVX_PARK_POINT("buddy.free.merge");
		cur = iovx_load_acquire(w);
		for (;;) {
			if ((cur & pair) != pair)
				return;				/* B4: the other half is busy */
			if (iovx_cmpxchg_acq_rel(w, &cur, cur & ~pair))	/* E-B2 */
				break;
		}
		idx >>= 1;		/* both halves are ours: free the parent */
		order++;
	}
}

void iovx_buddy_free(struct buddy *b, uint64_t pfn, unsigned int order)
{
	count_free(b, (int64_t)(1ull << order));
	iovx_fetch_add_relaxed(&buddy_pc(b)->frees, 1);
	buddy_release(b, pfn, order);
}

/*
 * Splits the claimed block (x at order j) down to 'order', keeping the half that contains
 * 'keep' and freeing the other half at each level. On -ENOMEM the claimed block is freed.
 */
static int buddy_split(struct buddy *b, uint64_t x, unsigned int j, unsigned int order,
		       uint64_t keep_pfn)
{
	while (j > order) {
		uint64_t c, other, old;
		uint64_t *w;

		j--;
		c = keep_pfn >> j;
		if ((c >> 1) != x)
			c = (x << 1) | 1;	/* keep_pfn outside: keep the upper half */
		other = c ^ 1;
		w = iovx_shb_word(&b->bm[j], other, true, IOVX_GFP_ATOMIC);
		if (!w) {
			/* undo: x at order j+1 is ours as a whole; it merges with what we freed */
			buddy_release(b, x << (j + 1), j + 1);
			return -ENOMEM;
		}
		/* other's buddy is the half we keep, so no merge is possible here */
		old = iovx_fetch_or_acq_rel(w, 1ull << (other & 63));	/* E-B2 */
		iovx_assert(!(old & (1ull << (other & 63))));	/* B1: the half was ours */
		if (!old)
			iovx_shb_mark(&b->bm[j], other);
		x = c;
	}
	return 0;
}

int64_t iovx_buddy_alloc(struct buddy *b, unsigned int order, uint64_t lim_pfn, uint64_t need)
{
	uint64_t size = 1ull << order, top;
	unsigned int j;
	int64_t x = -1;

	if (lim_pfn > b->end_pfn)
		lim_pfn = b->end_pfn;
	if (lim_pfn < need)
		return -ENOMEM;
	top = lim_pfn - need;		/* the highest start the caller accepts */
	for (j = order; j <= b->max_order; j++) {
		/*
		 * Blocks starting at or below top: a larger block crossing the limit still
		 * holds a suitable sub-block at its bottom.
		 */
		uint64_t lim = (top >> j) + 1;

		for (;;) {
			x = iovx_shb_find_last_below(&b->bm[j], lim);
			if (x < 0)
				break;
			if (iovx_shb_test_and_clear(&b->bm[j], (uint64_t)x))
				goto claimed;
			lim = (uint64_t)x + 1;	/* lost a race for it; look again */
		}
	}
	return -ENOMEM;
claimed:
	IOVX_PARK_POINT("buddy.alloc.claimed");
	/* the claimed block leaves the free count before it can be freed again (I6) */
	count_free(b, -(int64_t)(1ull << j));
	if (j > order) {
		/* top-down, like the kernel: keep the highest sub-block the limit allows */
		uint64_t keep = (((uint64_t)x + 1) << j) - size;

		if (keep > (top & ~(size - 1)))
			keep = top & ~(size - 1);
		if (buddy_split(b, (uint64_t)x, j, order, keep)) {
			count_free(b, (int64_t)(1ull << j));
			return -ENOMEM;
		}
		count_free(b, (int64_t)((1ull << j) - size));
		x = (int64_t)(keep >> order);
	}
	iovx_fetch_add_relaxed(&buddy_pc(b)->allocs, 1);
	return x << order;
}

int iovx_buddy_prepare_boundary(struct buddy *b, uint64_t boundary, unsigned int order)
{
	for (unsigned int j = 0; j < order; j++)
		if (!iovx_shb_word(&b->bm[j], boundary >> j, true, IOVX_GFP_ATOMIC))
			return -ENOMEM;
	return 0;
}

int iovx_buddy_carve(struct buddy *b, uint64_t pfn, unsigned int order)
{
	for (unsigned int j = order; j <= b->max_order; j++) {
		uint64_t a = pfn >> j;

		if (!iovx_shb_test_and_clear(&b->bm[j], a))
			continue;
		count_free(b, -(int64_t)(1ull << j));
		if (buddy_split(b, a, j, order, pfn)) {
			count_free(b, (int64_t)(1ull << j));
			return -ENOMEM;
		}
		count_free(b, (int64_t)((1ull << j) - (1ull << order)));
		return 0;
	}
	return -EBUSY;
}

int iovx_buddy_walk(struct buddy *b, int (*fn)(void *arg, uint64_t pfn, unsigned int order),
		    void *arg)
{
	for (unsigned int k = 0; k <= b->max_order; k++) {
		uint64_t lim = b->bm[k].nbits;
		int64_t x;

		while ((x = iovx_shb_find_last_below(&b->bm[k], lim)) >= 0) {
			int ret = fn(arg, (uint64_t)x << k, k);

			if (ret)
				return ret;
			lim = (uint64_t)x;
		}
	}
	return 0;
}
