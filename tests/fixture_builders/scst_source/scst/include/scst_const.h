/*
 * TEST FIXTURE modelled on SCST's scst/include/scst_const.h (version only).
 */
#ifndef __SCST_CONST_H
#define __SCST_CONST_H

#define SCST_VERSION_NAME "@VERSION@"

#endif /* __SCST_CONST_H */
