package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

// EnvPrefix is the prefix of environment overrides: http.addr is
// HUB_HTTP_ADDR, kafka.embedded.addr is HUB_KAFKA_EMBEDDED_ADDR.
const EnvPrefix = "HUB"

// Problem is one thing wrong with a configuration.
type Problem struct {
	File string // config file, "" when the value came from elsewhere
	Line int    // 0 when unknown
	Key  string // dotted key, e.g. kafka.embedded.addr
	Env  string // the environment variable that set the value, if one did
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		if p.Env != "" {
			b.WriteString(" (from " + p.Env + ")")
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is the error Load returns: every problem found, in file order.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads the YAML file at path (none when path is ""), applies HUB_*
// environment overrides and ${VAR} references, decodes into a Config and
// validates it. On any problem it returns Problems listing all of them.
func Load(path string) (*Config, error) { return LoadWith(path, LoadOptions{}) }

// LoadOptions change what Load insists on.
type LoadOptions struct {
	// StateOnly is for commands that only use the state store (listing
	// dead letters, tracing a record): a ${VAR} under connectors that is
	// not set is no problem (it reads as ""), so an operator needs the
	// state store's credentials but not every ERP's password. Such a
	// config must not be used to start connectors.
	StateOnly bool
}

// LoadWith is Load with options.
func LoadWith(path string, opts LoadOptions) (*Config, error) {
	cfg, probs, err := load(path, opts)
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return cfg, nil
}

// Inspect loads like LoadWith but also returns the config when it has
// problems, decoded as far as it goes, so that a checker (hub validate)
// can go on to check what the config names (connector settings, mapping
// files) and report every problem in one run. cfg is nil only when the
// file cannot be read as YAML at all; err is for a file that cannot be
// read. A config with problems must never be used to start anything.
func Inspect(path string, opts LoadOptions) (cfg *Config, probs Problems, err error) {
	return load(path, opts)
}

// load reads, decodes, resolves and validates; the problems come located
// and in file order.
func load(path string, opts LoadOptions) (*Config, Problems, error) {
	cfg := Default()
	cfg.File = path
	cfg.lines = map[string]int{}
	var probs Problems

	fileValues := map[string]any{}
	referenced := map[string]bool{} // ${VAR}s the file names
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("config: read %s: %w", path, err)
		}
		for _, m := range refPattern.FindAllStringSubmatch(string(data), -1) {
			referenced[m[1]] = true
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, Problems{yamlProblem(path, err)}, nil
		}
		if len(doc.Content) > 0 {
			root := doc.Content[0]
			if root.Kind != yaml.MappingNode {
				return nil, Problems{{File: path, Line: root.Line, Msg: "the file must be a mapping of keys (hub, log, http, kafka, state)"}}, nil
			}
			probs = append(probs, checkKeys(path, root, reflect.TypeOf(Config{}), "", cfg.lines)...)
			probs = append(probs, expandRefs(path, root, "", opts)...)
			if err := root.Decode(&fileValues); err != nil {
				probs = append(probs, yamlProblem(path, err))
			}
		}
	}

	v := viper.New()
	for key, val := range leafDefaults(Default()) {
		v.SetDefault(key, val)
	}
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if err := v.MergeConfigMap(fileValues); err != nil {
		return nil, nil, fmt.Errorf("config: merge %s: %w", path, err)
	}

	err := v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		)
		dc.WeaklyTypedInput = true
	})
	if err != nil {
		// A key already reported (unknown, wrong shape) needs no second word.
		reported := map[string]bool{}
		for _, p := range probs {
			reported[p.Key] = true
		}
		for _, p := range decodeProblems(err, v.Get) {
			if !reported[p.Key] {
				probs = append(probs, p)
			}
		}
	}
	probs = append(probs, misspeltEnv(v.AllKeys(), referenced)...)
	cfg.resolve()
	probs = append(probs, cfg.validate()...)

	if len(probs) == 0 {
		return &cfg, nil, nil
	}
	for i := range probs {
		cfg.locate(&probs[i])
	}
	return &cfg, sortProblems(dedupe(probs)), nil
}

// Line returns the line of the file that sets key, or 0.
func (c *Config) Line(key string) int { return c.lines[key] }

// ProblemAt is a problem about a dotted key, placed where its value comes
// from: the line of the file that sets the key (or, for a key the file
// leaves out, the line of its nearest parent), or the HUB_* variable that
// overrides it. Components checked after Load (connector settings,
// mappings) report through it, so that their problems read like Load's.
func (c *Config) ProblemAt(key, msg string) Problem {
	p := Problem{Key: key, Msg: msg}
	c.locate(&p)
	return p
}

// Combine adds more problems (found by checking what a config names) to
// those Load reported, in file order. A problem about a key that Load
// already reported is left out: one word about a key is enough (a mapping
// file that does not exist need not also fail to compile).
func Combine(reported, more Problems) Problems {
	seen := map[string]bool{}
	for _, p := range reported {
		if p.Key != "" {
			seen[p.Key] = true
		}
	}
	out := append(Problems(nil), reported...)
	for _, p := range more {
		if p.Key == "" || !seen[p.Key] {
			out = append(out, p)
		}
	}
	return sortProblems(dedupe(out))
}

// sortProblems orders problems by line, keeping the order of those on one
// line (and of those without a line, which come first).
func sortProblems(ps Problems) Problems {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return ps
}

// locate fills in where a problem's value came from.
func (c *Config) locate(p *Problem) {
	if p.Key == "" {
		if p.File == "" {
			p.File = c.File
		}
		return
	}
	env := envName(p.Key)
	if _, ok := os.LookupEnv(env); ok {
		p.Env = env
		return
	}
	// A missing key is reported at its parent's line.
	for key := p.Key; key != ""; key = parentKey(key) {
		if line, ok := c.lines[key]; ok {
			p.File, p.Line = c.File, line
			return
		}
	}
	if p.File == "" {
		p.File = c.File
	}
}

func parentKey(key string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i]
	}
	return ""
}

func envName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func dedupe(ps Problems) Problems {
	seen := map[string]bool{}
	out := ps[:0]
	for _, p := range ps {
		s := p.String()
		if !seen[s] {
			seen[s] = true
			out = append(out, p)
		}
	}
	return out
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{File: file, Msg: msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Msg = strings.TrimSpace(strings.Replace(msg, m[0]+":", "", 1))
	}
	return p
}

// decodeProblems turns mapstructure's joined errors into one problem per key.
func decodeProblems(err error, get func(string) any) Problems {
	var out Problems
	var walk func(error)
	walk = func(e error) {
		// Joined errors and wrappers first: errors.As would find only the
		// first of several decode errors.
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		if de, ok := e.(*mapstructure.DecodeError); ok {
			key := dottedKey(de.Name())
			out = append(out, Problem{Key: key, Msg: describeDecode(de.Unwrap().Error(), get(key))})
			return
		}
		if u := errors.Unwrap(e); u != nil {
			walk(u)
			return
		}
		out = append(out, Problem{Msg: e.Error()})
	}
	walk(err)
	return out
}

// mapKey is a map entry in a decoder's key: sources[crm-orders].
var mapKey = regexp.MustCompile(`\[([^\]]*[^0-9\]][^\]]*)\]`)

// dottedKey writes a decoder's key as the config file does:
// sources[crm-orders].interval is sources.crm-orders.interval; list
// indexes stay (api.tokens[1].token).
func dottedKey(name string) string {
	return mapKey.ReplaceAllString(name, ".$1")
}

// describeDecode says what a value that did not decode should have been,
// with the value given, instead of the decoder's own words.
func describeDecode(msg string, value any) string {
	v := fmt.Sprint(value)
	switch {
	case strings.Contains(msg, "duration") || strings.Contains(msg, "unknown unit") || strings.Contains(msg, "missing unit"):
		return fmt.Sprintf(`%q is not a duration (use a Go duration such as "500ms", "30s", "5m" or "168h")`, v)
	case strings.Contains(msg, "as 'int") || strings.Contains(msg, "as 'uint"):
		return fmt.Sprintf("%q is not a whole number", v)
	case strings.Contains(msg, "as 'float"):
		return fmt.Sprintf("%q is not a number", v)
	case strings.Contains(msg, "as 'bool"):
		return fmt.Sprintf("%q is not true or false", v)
	case strings.Contains(msg, "expected a map") || strings.Contains(msg, "expected type 'map"):
		return fmt.Sprintf("%q is not a mapping of keys", v)
	case strings.Contains(msg, "source data must be an array or slice"):
		return fmt.Sprintf("%q is not a list", v)
	}
	return fmt.Sprintf("%q: %s", v, msg)
}

// checkKeys walks the YAML mapping against the struct's keys, records each
// key's line and reports unknown keys with a suggestion.
func checkKeys(file string, node *yaml.Node, t reflect.Type, prefix string, lines map[string]int) Problems {
	var probs Problems
	fields := structKeys(t)
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, val := node.Content[i], node.Content[i+1]
		key := k.Value
		full := join(prefix, key)
		lines[full] = k.Line
		ft, ok := fields[key]
		if !ok && hasRemain(t) {
			recordLines(val, full, lines) // settings a component decodes and checks itself
			continue
		}
		if !ok {
			msg := "unknown key"
			if s := suggest(key, fields); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				msg += fmt.Sprintf(" (known here: %s)", strings.Join(sortedKeys(fields), ", "))
			}
			probs = append(probs, Problem{File: file, Line: k.Line, Key: full, Msg: msg})
			continue
		}
		probs = append(probs, checkValue(file, val, ft, full, lines)...)
	}
	return probs
}

// checkValue checks one value against the type it decodes into.
func checkValue(file string, val *yaml.Node, ft reflect.Type, full string, lines map[string]int) Problems {
	isMap := ft.Kind() == reflect.Map && ft.Key().Kind() == reflect.String && ft.Elem().Kind() != reflect.Interface
	if ft.Kind() == reflect.Slice && isSection(ft.Elem()) && val.Kind == yaml.SequenceNode {
		var probs Problems
		for i, el := range val.Content {
			key := fmt.Sprintf("%s[%d]", full, i)
			lines[key] = el.Line
			probs = append(probs, checkValue(file, el, ft.Elem(), key, lines)...)
		}
		return probs
	}
	if !isSection(ft) && !isMap {
		return nil
	}
	switch {
	case val.Kind == yaml.ScalarNode && val.Tag == "!!null":
		return nil
	case val.Kind != yaml.MappingNode:
		return Problems{{File: file, Line: val.Line, Key: full, Msg: "must be a mapping of keys, not a single value or a list"}}
	case isMap:
		var probs Problems
		for i := 0; i+1 < len(val.Content); i += 2 {
			name := val.Content[i]
			key := join(full, name.Value)
			lines[key] = name.Line
			if !namePattern.MatchString(name.Value) {
				probs = append(probs, Problem{File: file, Line: name.Line, Key: key,
					Msg: "names are lower-case letters, digits, '_' and '-', starting with a letter"})
			}
			probs = append(probs, checkValue(file, val.Content[i+1], ft.Elem(), key, lines)...)
		}
		return probs
	default:
		return checkKeys(file, val, ft, full, lines)
	}
}

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// recordLines notes the line of every key below node.
func recordLines(node *yaml.Node, key string, lines map[string]int) {
	switch node.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			k := join(key, node.Content[i].Value)
			lines[k] = node.Content[i].Line
			recordLines(node.Content[i+1], k, lines)
		}
	case yaml.SequenceNode:
		for i, c := range node.Content {
			k := fmt.Sprintf("%s[%d]", key, i)
			lines[k] = c.Line
			recordLines(c, k, lines)
		}
	}
}

func hasRemain(t reflect.Type) bool {
	for i := 0; i < t.NumField(); i++ {
		if strings.HasSuffix(t.Field(i).Tag.Get("mapstructure"), ",remain") {
			return true
		}
	}
	return false
}

var durationType = reflect.TypeOf(time.Duration(0))

func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != durationType
}

func structKeys(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		name := strings.Split(tag, ",")[0]
		if strings.Contains(tag, ",squash") && f.Type.Kind() == reflect.Struct {
			for k, v := range structKeys(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out[name] = f.Type
	}
	return out
}

// keysAt are the keys of the object a dotted settings path ends in
// (entities.customer.colour: those of an entity), following structs, maps
// and lists of t; nil when the path leads to no object.
func keysAt(t reflect.Type, path string) map[string]reflect.Type {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			ft, ok := structKeys(t)[p]
			if !ok {
				return nil
			}
			t = ft
		case reflect.Map, reflect.Slice:
			t = t.Elem()
		default:
			return nil
		}
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Map || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
			continue
		}
		break
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	return structKeys(t)
}

func sortedKeys(m map[string]reflect.Type) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// suggest returns the known key closest to key when it is a likely typo.
func suggest(key string, known map[string]reflect.Type) string {
	best, bestD := "", 3
	for k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var refPattern = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandRefs replaces ${VAR} and ${VAR:-default} in scalar values with the
// environment's value. A reference to an unset variable without a default is
// a problem: a secret that silently becomes "" is worse than a stop.
func expandRefs(file string, node *yaml.Node, key string, opts LoadOptions) Problems {
	var probs Problems
	switch node.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(node.Content); i += 2 {
			probs = append(probs, expandRefs(file, node.Content[i+1], join(key, node.Content[i].Value), opts)...)
		}
	case yaml.SequenceNode:
		for i, c := range node.Content {
			probs = append(probs, expandRefs(file, c, fmt.Sprintf("%s[%d]", key, i), opts)...)
		}
	case yaml.ScalarNode:
		if !strings.Contains(node.Value, "${") {
			return nil
		}
		node.Value = refPattern.ReplaceAllStringFunc(node.Value, func(m string) string {
			sub := refPattern.FindStringSubmatch(m)
			if val, ok := os.LookupEnv(sub[1]); ok {
				return val
			}
			if sub[2] != "" {
				return sub[3]
			}
			if opts.StateOnly && strings.HasPrefix(key, "connectors.") {
				return ""
			}
			probs = append(probs, Problem{File: file, Line: node.Line, Key: key,
				Msg: fmt.Sprintf("environment variable %s is not set (referenced as %s)", sub[1], m)})
			return ""
		})
		// A reference makes the value a string whatever it looks like.
		node.Tag = "!!str"
		node.Style = 0
	}
	return probs
}

// leafDefaults flattens a Config into dotted keys so that viper knows every
// key and AutomaticEnv can override each one.
func leafDefaults(c Config) map[string]any {
	out := map[string]any{}
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			key := join(prefix, tag)
			fv := v.Field(i)
			if isSection(f.Type) {
				walk(fv, key)
				continue
			}
			switch fv.Kind() {
			case reflect.Map:
				continue // named entries: nothing to default or override by env
			case reflect.Slice:
				if fv.IsNil() {
					out[key] = []string{}
					continue
				}
				out[key] = fv.Interface()
			case reflect.String:
				out[key] = fv.String() // Secret and other string kinds as plain strings
			default:
				out[key] = fv.Interface()
			}
		}
	}
	walk(reflect.ValueOf(c), "")
	return out
}

// misspeltEnv reports HUB_* variables that set nothing but are one or two
// letters away from a setting's variable: a typo would otherwise be
// ignored without a word. Variables the file references as ${VAR} are
// the file's own.
func misspeltEnv(keys []string, referenced map[string]bool) Problems {
	known := make(map[string]reflect.Type, len(keys))
	for _, k := range keys {
		known[envName(k)] = nil
	}
	var out Problems
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix+"_") || referenced[name] || name == "HUB_CONFIG" || name == "HUB_API_TOKEN" {
			continue
		}
		if _, ok := known[name]; ok {
			continue
		}
		if s := suggestEnv(name, known); s != "" {
			out = append(out, Problem{Env: name, Msg: fmt.Sprintf("%s sets nothing (did you mean %s?)", name, s)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env < out[j].Env })
	return out
}

// suggestEnv is the known variable at most two edits from name, or "".
func suggestEnv(name string, known map[string]reflect.Type) string {
	best, bestD := "", 3
	for k := range known {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}
