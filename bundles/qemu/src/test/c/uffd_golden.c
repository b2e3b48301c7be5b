/*
 * Prints the kernel ABI io.romulus.qemu.internal.dirty.KernelAbi lays out by hand: the userfaultfd ioctl numbers,
 * flags and structs (struct uffdio_api, uffdio_range, uffdio_register, uffdio_writeprotect) from the installed
 * <linux/userfaultfd.h>, and the PAGEMAP_SCAN ioctl with struct pm_scan_arg and struct page_region from the
 * installed <linux/fs.h>. The ioctl numbers come from the system's _IOR/_IOWR (<asm-generic/ioctl.h>), sizes and
 * offsets from the compiler, and the sample bytes from the structs filled field by field.
 *
 * Linux 6.7 added PAGEMAP_SCAN and UFFD_FEATURE_WP_ASYNC (6.1's linux-libc-dev, Debian 12's, lacks them; see
 * PITFALLS.md). Where the installed headers lack a definition, it is taken from a verbatim copy of the Linux 6.7
 * uapi below, and a "source" line says so; with newer headers the system's own definitions are used.
 *
 * KernelAbiTest compiles and runs this program at test time and compares KernelAbi with its output.
 *
 * Output lines, one fact each:
 *   source <what> <system|linux-6.7-uapi-copy>
 *   const  <NAME> <value, decimal>
 *   size   <struct> <bytes>
 *   offset <struct>.<field> <bytes>
 *   bytes  <sample> <hex of every byte, in memory order>
 *
 * gcc -std=gnu11 -Wall -Wextra -Werror -o uffd_golden uffd_golden.c && ./uffd_golden
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/fs.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>

/* include/uapi/linux/userfaultfd.h, Linux 6.7 */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED		(1<<13)
#endif
#ifdef UFFD_FEATURE_WP_ASYNC
#define WP_ASYNC_SOURCE "system"
#else
#define WP_ASYNC_SOURCE "linux-6.7-uapi-copy"
#define UFFD_FEATURE_WP_ASYNC			(1<<15)
#endif

/* include/uapi/linux/fs.h, Linux 6.7 */
#ifdef PAGEMAP_SCAN
#define PAGEMAP_SCAN_SOURCE "system"
#else
#define PAGEMAP_SCAN_SOURCE "linux-6.7-uapi-copy"
/* Pagemap ioctl */
#define PAGEMAP_SCAN	_IOWR('f', 16, struct pm_scan_arg)

/* Bitmasks provided in pm_scan_args masks and reported in page_region.categories. */
#define PAGE_IS_WPALLOWED	(1 << 0)
#define PAGE_IS_WRITTEN		(1 << 1)
#define PAGE_IS_FILE		(1 << 2)
#define PAGE_IS_PRESENT		(1 << 3)
#define PAGE_IS_SWAPPED		(1 << 4)
#define PAGE_IS_PFNZERO		(1 << 5)
#define PAGE_IS_HUGE		(1 << 6)
#define PAGE_IS_SOFT_DIRTY	(1 << 7)

/*
 * struct page_region - Page region with flags
 * @start:	Start of the region
 * @end:	End of the region (exclusive)
 * @categories:	PAGE_IS_* category bitmask for the region
 */
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

/* Flags for PAGEMAP_SCAN ioctl */
#define PM_SCAN_WP_MATCHING	(1 << 0)	/* Write protect the pages matched. */
#define PM_SCAN_CHECK_WPASYNC	(1 << 1)	/* Abort the scan when a non-WP-enabled page is found. */

/*
 * struct pm_scan_arg - Pagemap ioctl argument
 * @size:		Size of the structure
 * @flags:		Flags for the IOCTL
 * @start:		Starting address of the region
 * @end:		Ending address of the region
 * @walk_end		Address where the scan stopped (written by kernel).
 *			walk_end == end (address tags cleared) informs that the scan completed on entire range.
 * @vec:		Address of page_region struct array for output
 * @vec_len:		Length of the page_region struct array
 * @max_pages:		Optional limit for number of returned pages (0 = disabled)
 * @category_inverted:	PAGE_IS_* categories which values match if 0 instead of 1
 * @category_mask:	Skip pages for which any category doesn't match
 * @category_anyof_mask: Skip pages for which no category matches
 * @return_mask:	PAGE_IS_* categories that are to be reported in `page_region`s returned
 */
struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};
#endif

#define CONST(name) printf("const %s %llu\n", #name, (unsigned long long) (name))
#define SIZE(type) printf("size %s %zu\n", #type, sizeof(struct type))
#define OFFSET(type, field) printf("offset %s.%s %zu\n", #type, #field, offsetof(struct type, field))

static void dump(const char *label, const void *data, size_t length)
{
    const unsigned char *p = data;
    size_t i;

    printf("bytes %s ", label);
    for ( i = 0; i < length; i++ )
        printf("%02x", p[i]);
    printf("\n");
}

int main(void)
{
    struct uffdio_api api;
    struct uffdio_range range;
    struct uffdio_register reg;
    struct uffdio_writeprotect wp;
    struct pm_scan_arg scan;
    struct page_region regions[2];

    printf("source UFFD_FEATURE_WP_ASYNC %s\n", WP_ASYNC_SOURCE);
    printf("source PAGEMAP_SCAN %s\n", PAGEMAP_SCAN_SOURCE);

    CONST(UFFDIO_API);
    CONST(UFFDIO_REGISTER);
    CONST(UFFDIO_UNREGISTER);
    CONST(UFFDIO_WRITEPROTECT);
    CONST(PAGEMAP_SCAN);
    CONST(UFFD_API);
    CONST(UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
    CONST(UFFD_FEATURE_WP_UNPOPULATED);
    CONST(UFFD_FEATURE_WP_ASYNC);
    CONST(UFFDIO_REGISTER_MODE_WP);
    CONST(UFFDIO_WRITEPROTECT_MODE_WP);
    CONST(PAGE_IS_WPALLOWED);
    CONST(PAGE_IS_WRITTEN);
    CONST(PAGE_IS_FILE);
    CONST(PAGE_IS_PRESENT);
    CONST(PM_SCAN_WP_MATCHING);
    CONST(PM_SCAN_CHECK_WPASYNC);

    SIZE(uffdio_api);
    SIZE(uffdio_range);
    SIZE(uffdio_register);
    SIZE(uffdio_writeprotect);
    SIZE(pm_scan_arg);
    SIZE(page_region);
    OFFSET(pm_scan_arg, walk_end);

    memset(&api, 0, sizeof api);
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
    api.ioctls = 0x0102030405060708ULL;
    dump("uffdio_api", &api, sizeof api);

    memset(&range, 0, sizeof range);
    range.start = 0x7f0000001000ULL;
    range.len = 0x200000;
    dump("uffdio_range", &range, sizeof range);

    memset(&reg, 0, sizeof reg);
    reg.range.start = 0x7f0000001000ULL;
    reg.range.len = 0x200000;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    reg.ioctls = 0x15c;
    dump("uffdio_register", &reg, sizeof reg);

    memset(&wp, 0, sizeof wp);
    wp.range.start = 0x7f0000001000ULL;
    wp.range.len = 0x3000;
    wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
    dump("uffdio_writeprotect", &wp, sizeof wp);

    memset(&scan, 0, sizeof scan);
    scan.size = sizeof scan;
    scan.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
    scan.start = 0x7f0000000000ULL;
    scan.end = 0x7f0010000000ULL;
    scan.walk_end = 0x7f0010008000ULL;
    scan.vec = 0x555500001000ULL;
    scan.vec_len = 512;
    scan.max_pages = 7;
    scan.category_inverted = PAGE_IS_PRESENT;
    scan.category_mask = PAGE_IS_WRITTEN;
    scan.category_anyof_mask = PAGE_IS_FILE;
    scan.return_mask = PAGE_IS_WRITTEN;
    dump("pm_scan_arg", &scan, sizeof scan);

    memset(regions, 0, sizeof regions);
    regions[0].start = 0x7f0000003000ULL;
    regions[0].end = 0x7f0000004000ULL;
    regions[0].categories = PAGE_IS_WRITTEN;
    regions[1].start = 0x7f0000007000ULL;
    regions[1].end = 0x7f0000009000ULL;
    regions[1].categories = PAGE_IS_WRITTEN | PAGE_IS_PRESENT;
    dump("page_region_array", regions, sizeof regions);
    return 0;
}
