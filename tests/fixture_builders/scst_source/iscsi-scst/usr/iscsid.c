/*
 * TEST FIXTURE standing in for iSCSI-SCST's iscsi-scstd: prints its version and exits.
 */
#include <stdio.h>
#include <string.h>
#include "iscsi_scst_ver.h"

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
		printf("iscsi-scstd version %s (test fixture)\n", ISCSI_VERSION_STRING);
		return 0;
	}
	fprintf(stderr, "iscsi-scstd (test fixture): no daemon here; use --version\n");
	return 1;
}
