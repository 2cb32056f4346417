package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp/totp"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
)

// newUsersCmd is `hub users`: make the secrets of console users and API
// tokens for the config (api.users, api.tokens).
func newUsersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Make console users' password hashes and TOTP enrolments, and API token hashes",
		Long: `Console users (api.users) sign in with a password, kept in the config as a
bcrypt hash, and a 6-digit code from an authenticator app (TOTP, RFC 6238),
enrolled from a QR code. API tokens (api.tokens) may be kept as their
SHA-256 (token_sha256) instead of the token itself. These commands print
what goes into the config; put it in the environment and refer to it with
${VAR}.`,
	}
	cmd.AddCommand(newHashPasswordCmd(), newEnrollCmd(), newHashTokenCmd(), newCodeCmd())
	return cmd
}

// readSecret reads one line from in (a password or token typed or piped).
func readSecret(in io.Reader) (string, error) {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func newHashPasswordCmd() *cobra.Command {
	var cost int
	cmd := &cobra.Command{
		Use:   "hash-password",
		Short: "Read a password on standard input and print its bcrypt hash (api.users[].password_hash)",
		Example: `  read -rs PW && printf '%s\n' "$PW" | hub users hash-password
  export HUB_ALICE_PASSWORD_HASH="$(printf '%s\n' "$PW" | hub users hash-password)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := readSecret(cmd.InOrStdin())
			if err != nil {
				return exitErr(2, fmt.Errorf("read the password: %w", err))
			}
			if len(pw) < 10 {
				return exitErr(2, errors.New("the password must be at least 10 characters"))
			}
			h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
			if err != nil {
				return exitErr(2, fmt.Errorf("hash the password: %w", err))
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), string(h))
			return err
		},
	}
	cmd.Flags().IntVar(&cost, "cost", 12, "bcrypt cost (10-31); each step doubles the work of a guess and of a sign-in")
	return cmd
}

func newHashTokenCmd() *cobra.Command {
	var generate bool
	cmd := &cobra.Command{
		Use:   "hash-token",
		Short: "Print the SHA-256 of an API token (api.tokens[].token_sha256); --generate makes a new token",
		Example: `  hub users hash-token --generate      # token: ... (give it to the client)  sha256: ... (into the config)
  printf '%s\n' "$TOKEN" | hub users hash-token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var tok string
			out := cmd.OutOrStdout()
			if generate {
				b := make([]byte, 24)
				if _, err := rand.Read(b); err != nil {
					return err
				}
				tok = hex.EncodeToString(b)
				fmt.Fprintln(out, "token: ", tok)
			} else {
				var err error
				if tok, err = readSecret(cmd.InOrStdin()); err != nil {
					return exitErr(2, fmt.Errorf("read the token: %w", err))
				}
			}
			if len(tok) < 16 {
				return exitErr(2, errors.New("a token must be at least 16 characters"))
			}
			sum := sha256.Sum256([]byte(tok))
			_, err := fmt.Fprintln(out, "sha256:", hex.EncodeToString(sum[:]))
			return err
		},
	}
	cmd.Flags().BoolVar(&generate, "generate", false, "make a new random token and print it with its hash")
	return cmd
}

func newEnrollCmd() *cobra.Command {
	var issuer, pngPath string
	cmd := &cobra.Command{
		Use:   "enroll NAME",
		Short: "Make a TOTP secret for a console user and show its QR code for an authenticator app",
		Example: `  hub users enroll alice                      # QR code on the terminal, the secret for api.users[].totp_secret
  hub users enroll alice --png alice-totp.png  # the QR code as a picture too`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: args[0]})
			if err != nil {
				return fmt.Errorf("make a TOTP secret: %w", err)
			}
			code, err := qr.Encode(key.URL(), qr.M, qr.Auto)
			if err != nil {
				return fmt.Errorf("draw the QR code: %w", err)
			}
			out := cmd.OutOrStdout()
			writeQR(out, code)
			fmt.Fprintf(out, "\nScan it with an authenticator app, or type the secret in.\ntotp_secret: %s\n", key.Secret())
			if pngPath != "" {
				img, err := barcode.Scale(code, 320, 320)
				if err != nil {
					return fmt.Errorf("scale the QR code: %w", err)
				}
				f, err := os.OpenFile(pngPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
				if err != nil {
					return exitErr(2, fmt.Errorf("write %s: %w", pngPath, err))
				}
				defer f.Close()
				if err := png.Encode(f, img); err != nil {
					return fmt.Errorf("write %s: %w", pngPath, err)
				}
				fmt.Fprintln(out, "QR code written to", pngPath)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&issuer, "issuer", "CRM hub", "the name the authenticator app shows")
	cmd.Flags().StringVar(&pngPath, "png", "", "also write the QR code to this PNG file (mode 0600)")
	return cmd
}

// writeQR draws a QR code with half blocks, two modules per character
// row, dark on a light quiet zone, so a phone can scan it off a terminal.
func writeQR(w io.Writer, code barcode.Barcode) {
	b := code.Bounds()
	dark := func(x, y int) bool {
		if x < b.Min.X || y < b.Min.Y || x >= b.Max.X || y >= b.Max.Y {
			return false
		}
		r, _, _, _ := code.At(x, y).RGBA()
		return r < 0x8000
	}
	const quiet = 2
	var sb strings.Builder
	for y := b.Min.Y - quiet; y < b.Max.Y+quiet; y += 2 {
		for x := b.Min.X - quiet; x < b.Max.X+quiet; x++ {
			top, bottom := dark(x, y), dark(x, y+1)
			switch {
			case top && bottom:
				sb.WriteRune(' ')
			case top:
				sb.WriteRune('▄')
			case bottom:
				sb.WriteRune('▀')
			default:
				sb.WriteRune('█')
			}
		}
		sb.WriteByte('\n')
	}
	fmt.Fprint(w, sb.String())
}

func newCodeCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "code NAME",
		Short: "Print a configured user's current TOTP code (what their authenticator app shows)",
		Long: `Prints the 6-digit code of the user's TOTP secret as of now: for the demo
and for scripted checks of a test hub. Anyone who can run it can read the
config's secrets anyway; in production the code comes from the user's app.`,
		Example: `  hub users code -c configs/demo.yaml demo`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			for _, u := range cfg.API.Users {
				if u.Name == args[0] {
					code, err := totp.GenerateCode(u.TOTPSecret.Reveal(), time.Now())
					if err != nil {
						return fmt.Errorf("user %s: %w", u.Name, err)
					}
					_, err = fmt.Fprintln(cmd.OutOrStdout(), code)
					return err
				}
			}
			return exitErr(2, fmt.Errorf("no user %q in api.users of %s", args[0], cfgPath))
		},
	}
	configFlag(cmd, &cfgPath)
	return cmd
}
