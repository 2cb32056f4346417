package sqlbatch

import (
	"slices"
	"testing"
)

func TestChunks(t *testing.T) {
	for _, tc := range []struct {
		n, per int
		want   []int
	}{
		{0, 10, nil},
		{500, 2500, []int{256, 128, 64, 32, 16, 4}},
		{5300, 2500, []int{2500, 2500, 256, 32, 8, 4}},
		{7, 0, []int{1, 1, 1, 1, 1, 1, 1}},
		{450, 450, []int{450}},
	} {
		if got := Chunks(tc.n, tc.per); !slices.Equal(got, tc.want) {
			t.Errorf("Chunks(%d, %d) = %v, want %v", tc.n, tc.per, got, tc.want)
		}
	}
}

func TestInSize(t *testing.T) {
	for n, want := range map[int]int{0: 8, 1: 8, 8: 8, 9: 16, 512: 512, 513: 1024} {
		if got := InSize(n); got != want {
			t.Errorf("InSize(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestFixed(t *testing.T) {
	for _, tc := range []struct {
		n, per int
		want   []int
	}{
		{0, 10, nil},
		{500, 2500, []int{500}},
		{5300, 2500, []int{2500, 2500, 300}},
		{3, 0, []int{1, 1, 1}},
	} {
		if got := Fixed(tc.n, tc.per); !slices.Equal(got, tc.want) {
			t.Errorf("Fixed(%d, %d) = %v, want %v", tc.n, tc.per, got, tc.want)
		}
	}
}

func TestAppendIn(t *testing.T) {
	got := AppendIn([]any{"head"}, []string{"a", "b", "c"})
	want := []any{"head", "a", "b", "c", "c", "c", "c", "c", "c"}
	if !slices.Equal(got, want) {
		t.Errorf("AppendIn = %v, want %v", got, want)
	}
	if got := AppendIn([]any{"head"}, []int(nil)); len(got) != 1 {
		t.Errorf("AppendIn of no keys = %v, want the head alone", got)
	}
	if got := AppendIn(nil, make([]int, 9)); len(got) != 16 {
		t.Errorf("AppendIn of 9 keys: %d arguments, want 16", len(got))
	}
}
