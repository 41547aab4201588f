/*
 * TEST FIXTURE modelled on iSCSI-SCST's include/iscsi_scst.h (the kernel/user interface header;
 * its sha1 makes ISCSI_SCST_INTERFACE_VERSION, as in the real tree).
 */
#ifndef _ISCSI_SCST_U_H
#define _ISCSI_SCST_U_H

#include "iscsi_scst_ver.h"

#define ISCSI_SCST_CTL_NAME "iscsi-scst-ctl"

#endif
