// SPDX-License-Identifier: GPL-2.0
/*
 * TEST FIXTURE standing in for SCST's scst.ko: exports the target template registration
 * functions target drivers link against. Not SCST; it does nothing when loaded.
 */
#include <linux/module.h>
#include <linux/string.h>
#include "scst.h"

#if defined(CONFIG_SCST_DEBUG)
#define SCST_BUILD_MODE "debug"
#elif defined(CONFIG_SCST_TRACING)
#define SCST_BUILD_MODE "release"
#else
#define SCST_BUILD_MODE "perf"
#endif

int __scst_register_target_template(struct scst_tgt_template *vtt, const char *version)
{
	if (strcmp(version, SCST_INTERFACE_VERSION) != 0)
		return -EINVAL;
	return 0;
}
EXPORT_SYMBOL_GPL(__scst_register_target_template);

void scst_unregister_target_template(struct scst_tgt_template *vtt)
{
}
EXPORT_SYMBOL_GPL(scst_unregister_target_template);

static int __init init_scst(void)
{
	return 0;
}

static void __exit exit_scst(void)
{
}

module_init(init_scst);
module_exit(exit_scst);

MODULE_AUTHOR("iser.ofed test fixture");
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("TEST FIXTURE standing in for the SCSI target core (SCST)");
MODULE_VERSION(SCST_VERSION_NAME);
MODULE_INFO(scst_build_mode, SCST_BUILD_MODE);
