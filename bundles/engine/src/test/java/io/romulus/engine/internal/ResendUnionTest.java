package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;

/** The pages a resumed stream's first checkpoint carries: this epoch's and those sent again, once each, ascending. */
class ResendUnionTest {

    @Test
    void theUnionIsAscendingWithEveryPageOnce() {
        assertArrayEquals(new long[] {1, 2, 3, 5, 6, 9}, PrimaryStream.union(new long[] {1, 3, 5, 9},
                new long[] {2, 3, 6, 9}));
        assertArrayEquals(new long[] {4, 7}, PrimaryStream.union(new long[0], new long[] {4, 7}));
        assertArrayEquals(new long[] {4, 7}, PrimaryStream.union(new long[] {4, 7}, new long[0]));
        assertArrayEquals(new long[0], PrimaryStream.union(new long[0], new long[0]));
    }
}
