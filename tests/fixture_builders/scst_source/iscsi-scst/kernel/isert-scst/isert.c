// SPDX-License-Identifier: GPL-2.0
/*
 * TEST FIXTURE standing in for iSCSI-SCST's isert-scst.ko (iSER transport). It uses the RDMA
 * core (ib_register_client) through whichever <rdma/ib_verbs.h> the include flags select and
 * records, in modinfo fields, what it was really compiled against:
 *
 *   ofed_flavor   the flavour the Makefile computed (-DOFED_FLAVOR=...)
 *   rdma_headers  taken from a macro of the <rdma/ib_verbs.h> that was included: the MLNX_OFED
 *                 tree's own path (OFA_KERNEL_RDMA_HEADERS, see the fixture mlnx-ofed-kernel-dkms)
 *                 or "in-tree <UTS_RELEASE>" for the kernel's own header (IB_VERBS_H)
 *   ofed_compat   COMPAT_BASE from the forced-in <linux/compat-2.6.h>, "none" without one
 *   mofed_version MOFED_MAJOR.MOFED_MINOR passed by the Makefile, "none" otherwise
 */
#include <linux/module.h>
#include <linux/stringify.h>
#include <generated/utsrelease.h>
#include <rdma/ib_verbs.h>
#include "iscsi_scst_ver.h"
#include "iscsit_transport.h"

#if defined(OFA_KERNEL_RDMA_HEADERS)
#define ISERT_RDMA_HEADERS OFA_KERNEL_RDMA_HEADERS
#elif defined(IB_VERBS_H)
#define ISERT_RDMA_HEADERS "in-tree " UTS_RELEASE
#else
#define ISERT_RDMA_HEADERS "unknown"
#endif

#ifdef COMPAT_BASE
#define ISERT_OFED_COMPAT COMPAT_BASE
#else
#define ISERT_OFED_COMPAT "none"
#endif

#if defined(MOFED_MAJOR) && defined(MOFED_MINOR)
#define ISERT_MOFED_VERSION __stringify(MOFED_MAJOR) "." __stringify(MOFED_MINOR)
#else
#define ISERT_MOFED_VERSION "none"
#endif

static struct iscsit_transport isert_transport = {
	.name = "iSER",
	.transport_type = ISCSI_RDMA,
};

static struct ib_client isert_ib_client = {
	.name = "isert_scst",
};

static int __init isert_init_module(void)
{
	int ret = ib_register_client(&isert_ib_client);

	if (ret)
		return ret;
	ret = iscsit_reg_transport(&isert_transport);
	if (ret)
		ib_unregister_client(&isert_ib_client);
	return ret;
}

static void __exit isert_cleanup_module(void)
{
	iscsit_unreg_transport(&isert_transport);
	ib_unregister_client(&isert_ib_client);
}

module_init(isert_init_module);
module_exit(isert_cleanup_module);

MODULE_AUTHOR("iser.ofed test fixture");
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("TEST FIXTURE standing in for the SCST iSER target transport");
MODULE_VERSION(ISCSI_VERSION_STRING);
MODULE_INFO(ofed_flavor, __stringify(OFED_FLAVOR));
MODULE_INFO(rdma_headers, ISERT_RDMA_HEADERS);
MODULE_INFO(ofed_compat, ISERT_OFED_COMPAT);
MODULE_INFO(mofed_version, ISERT_MOFED_VERSION);
