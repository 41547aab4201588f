// SPDX-License-Identifier: GPL-2.0-only
/*
 * iser_ofed_holder: an out-of-tree RDMA client for the iser.ofed test-bed VM.
 *
 * It registers an ib_client with ib_core, as a third-party storage or HPC driver would. Loaded, it holds
 * ib_core (it appears in ib_core's "used by" list in /proc/modules) while being no module of the distro
 * tree: the ib_modules interlock must treat it as an unknown holder and refuse to unload the stack.
 * It does nothing else. Built against the running kernel's headers by molecule/vm/prepare.yml.
 */
#include <linux/module.h>
#include <rdma/ib_verbs.h>

static int holder_add(struct ib_device *device)
{
	pr_info("iser_ofed_holder: sees %s\n", dev_name(&device->dev));
	return 0;
}

static void holder_remove(struct ib_device *device, void *client_data)
{
	pr_info("iser_ofed_holder: %s gone\n", dev_name(&device->dev));
}

static struct ib_client holder_client = {
	.name = "iser_ofed_holder",
	.add = holder_add,
	.remove = holder_remove,
};

static int __init holder_init(void)
{
	return ib_register_client(&holder_client);
}

static void __exit holder_exit(void)
{
	ib_unregister_client(&holder_client);
}

module_init(holder_init);
module_exit(holder_exit);
MODULE_DESCRIPTION("iser.ofed test bed: an out-of-tree ib_core client (unknown holder)");
MODULE_AUTHOR("iser.ofed contributors");
MODULE_LICENSE("GPL");
