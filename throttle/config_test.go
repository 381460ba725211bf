package throttle

import (
	"math"
	"reflect"
	"testing"
)

// nonZero returns a value of t that differs from its zero value and from base, so a
// field that Merge forgets shows up as base's value.
func nonZero(t *testing.T, typ reflect.Type, base reflect.Value) reflect.Value {
	t.Helper()
	v := reflect.New(typ).Elem()
	switch typ.Kind() {
	case reflect.Int, reflect.Int64:
		v.SetInt(base.Int() + 7)
	case reflect.String:
		v.SetString(base.String() + "-override")
	case reflect.Map:
		v.Set(reflect.ValueOf(map[string]any{"override": true}))
	default:
		t.Fatalf("nonZero: teach this test the kind %s", typ.Kind())
	}
	return v
}

// TestMergeTakesEveryField fails when a field is added to Config and not to Merge: a
// shard's override of it would be silently ignored. Each field is overridden alone, so
// a field merged into the wrong one shows too; a zero override keeps the base.
func TestMergeTakesEveryField(t *testing.T) {
	base := Defaults()
	base.PrometheusHTTPClient = map[string]any{"base": true}
	if got := base.Merge(Config{}); !reflect.DeepEqual(got, base) {
		t.Errorf("a zero override changed the base:\n got %+v\nwant %+v", got, base)
	}
	typ := reflect.TypeOf(Config{})
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		t.Run(f.Name, func(t *testing.T) {
			var o Config
			val := nonZero(t, f.Type, reflect.ValueOf(base).Field(i))
			reflect.ValueOf(&o).Elem().Field(i).Set(val)
			got := base.Merge(o)
			want := base
			reflect.ValueOf(&want).Elem().Field(i).Set(val)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Merge with only %s set:\n got %+v\nwant %+v", f.Name, got, want)
			}
		})
	}
}

// TestMemoryReading: freeable memory prints as reports print bytes; an unknown sample
// (read as the worst) as NaN, and one past int64 without wrapping negative.
func TestMemoryReading(t *testing.T) {
	for b, want := range map[float64]string{
		512: "512 B", 3 << 30: "3.0 GiB", math.Inf(-1): "NaN", math.NaN(): "NaN", 1e30: "8.0 EiB",
	} {
		if got := memory(b); got != want {
			t.Errorf("memory(%g) = %q, want %q", b, got, want)
		}
	}
}
