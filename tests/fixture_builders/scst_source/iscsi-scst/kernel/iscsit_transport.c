// SPDX-License-Identifier: GPL-2.0
/*
 * TEST FIXTURE modelled on iSCSI-SCST's kernel/iscsit_transport.c: the transport registry
 * isert-scst.ko links against.
 */
#include <linux/module.h>
#include "iscsit_transport.h"

static struct iscsit_transport *rdma_transport;

int iscsit_reg_transport(struct iscsit_transport *t)
{
	if (t->transport_type != ISCSI_RDMA || rdma_transport)
		return -EINVAL;
	rdma_transport = t;
	return 0;
}
EXPORT_SYMBOL(iscsit_reg_transport);

void iscsit_unreg_transport(struct iscsit_transport *t)
{
	if (rdma_transport == t)
		rdma_transport = NULL;
}
EXPORT_SYMBOL(iscsit_unreg_transport);
