/*
 * TEST FIXTURE modelled on SCST's scst/include/scst.h: the target template registration
 * interface that target drivers (iscsi-scst) call; symbols exported by scst.ko.
 */
#ifndef __SCST_H
#define __SCST_H

#include "scst_const.h"

#define SCST_INTERFACE_VERSION SCST_VERSION_NAME "$Revision: fixture $"

struct scst_tgt_template {
	const char *name;
};

int __scst_register_target_template(struct scst_tgt_template *vtt, const char *version);
void scst_unregister_target_template(struct scst_tgt_template *vtt);

static inline int scst_register_target_template(struct scst_tgt_template *vtt)
{
	return __scst_register_target_template(vtt, SCST_INTERFACE_VERSION);
}

#endif /* __SCST_H */
