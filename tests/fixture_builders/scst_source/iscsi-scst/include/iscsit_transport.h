/*
 * TEST FIXTURE modelled on iSCSI-SCST's include/iscsit_transport.h: the transport registration
 * that isert-scst uses, exported by iscsi-scst.ko.
 */
#ifndef __ISCSI_TRANSPORT_H__
#define __ISCSI_TRANSPORT_H__

enum iscsit_transport_type {
	ISCSI_TCP,
	ISCSI_RDMA,
};

struct iscsit_transport {
	const char *name;
	enum iscsit_transport_type transport_type;
};

int iscsit_reg_transport(struct iscsit_transport *t);
void iscsit_unreg_transport(struct iscsit_transport *t);

#endif
