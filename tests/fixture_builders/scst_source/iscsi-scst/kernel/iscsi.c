// SPDX-License-Identifier: GPL-2.0
/*
 * TEST FIXTURE standing in for iSCSI-SCST's iscsi-scst.ko: registers a target template with
 * scst.ko (a real symbol dependency resolved through scst's Module.symvers). Not iSCSI-SCST.
 */
#include <linux/module.h>
#include <scst.h>
#include "iscsi_scst_ver.h"

static struct scst_tgt_template iscsi_template = {
	.name = "iscsi",
};

static int __init iscsi_init(void)
{
	return scst_register_target_template(&iscsi_template);
}

static void __exit iscsi_exit(void)
{
	scst_unregister_target_template(&iscsi_template);
}

module_init(iscsi_init);
module_exit(iscsi_exit);

MODULE_AUTHOR("iser.ofed test fixture");
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("TEST FIXTURE standing in for the SCST iSCSI target");
MODULE_VERSION(ISCSI_VERSION_STRING);
