/* Helpers shared by the files of the VM definition (vmdef*.c) only. */
#ifndef SV_VMM_VMDEF_PRIV_H
#define SV_VMM_VMDEF_PRIV_H

#include <stddef.h>
#include <stdint.h>

/* "2G" for sizes that are a whole number of a unit, else bytes. */
void vmdef_format_size(uint64_t v, char *buf, size_t len);

#endif
