package exposition

import "hash/crc32"

// The CRC-32 of a concatenation follows from the CRCs of its pieces and
// their lengths: crc(a‖b) = crc(a)·x^(8·len(b)) + crc(b), in the ring of
// polynomials over GF(2) modulo the IEEE polynomial (the pre- and
// post-conditioning of the CRC cancel out). A gzip trailer over spliced
// pieces then costs one product per piece instead of a pass over bytes the
// handler keeps only compressed. Polynomials are 32-bit words in crc32's
// reflected order: the top bit is x^0, the bottom bit x^31.

// mulModP returns a·b modulo the IEEE polynomial.
func mulModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		// b·x: x^31 overflows to x^32, which is the polynomial's lower terms.
		b = b>>1 ^ crc32.IEEE&-(b&1)
	}
	return p
}

// crcShift returns x^(8n) modulo the IEEE polynomial: the factor that moves
// a CRC past n bytes.
func crcShift(n int) uint32 {
	p, sq := uint32(1)<<31, uint32(1)<<(31-8) // x^0, x^8
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			p = mulModP(p, sq)
		}
		sq = mulModP(sq, sq)
	}
	return p
}

// crcConcat returns the CRC-32 of a‖b from crcA, crcB and crcShift(len(b)).
func crcConcat(crcA, crcB, shiftB uint32) uint32 {
	return mulModP(crcA, shiftB) ^ crcB
}
