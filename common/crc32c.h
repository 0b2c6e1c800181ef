/*
 * CRC32C (Castagnoli), the checksum of WAL records, snapshot files and store
 * snapshots (etcd's WAL uses the same polynomial).
 */
#ifndef METCD_COMMON_CRC32C_H
#define METCD_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues from crc (0 to start): hardware (SSE4.2) when the CPU has it,
 * else a table. crc32c(0, "123456789", 9) is 0xe3069283. Thread-safe. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The table version alone, for tests that compare the two. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif /* METCD_COMMON_CRC32C_H */
