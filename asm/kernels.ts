// Entry of kernels.wasm: the ABI the TypeScript loader (src/kernels/kernel_module.ts) binds.
// All offsets are u32 byte offsets into the imported shared memory, lengths in bytes; any
// length and any alignment is accepted (SIMD bulk, scalar tail).
export { gf_tables_init, gf_tables_bytes } from './gf_tables';
export { xor_gen } from './xor_simd';
export { pq_gen, pqr_gen } from './pq_simd';
export { gf_dot_prod } from './gf_dot_prod_simd';
export { fletcher4 } from './fletcher4_simd';
export { encode_checksum } from './encode_checksum_simd';
export { gf_vect_dot_prod } from './gf_vect_dot_prod_simd';
export { raid6_recov2 } from './raid6_recov_simd';
