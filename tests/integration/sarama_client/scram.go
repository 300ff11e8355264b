package main

// A SCRAM client (RFC 5802) for Sarama, which leaves the mechanism's implementation to
// the application: PBKDF2, HMAC and the hash from Go's standard library.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/Shopify/sarama"
)

type scramClient struct {
	newHash     func() hash.Hash
	user        string
	password    string
	step        int
	clientFirst string
	nonce       string
	serverSig   []byte
	done        bool
}

func newSCRAMClient(mechanism string) func() sarama.SCRAMClient {
	return func() sarama.SCRAMClient {
		if mechanism == "SCRAM-SHA-256" {
			return &scramClient{newHash: sha256.New}
		}
		return &scramClient{newHash: sha512.New}
	}
}

func (c *scramClient) Begin(user, password, authzID string) error {
	if authzID != "" {
		return errors.New("scram: an authorization id is not supported")
	}
	c.user, c.password = user, password
	return nil
}

func (c *scramClient) hmac(key, data []byte) []byte {
	m := hmac.New(c.newHash, key)
	m.Write(data)
	return m.Sum(nil)
}

// pbkdf2 with one block per hash length (RFC 8018, section 5.2).
func (c *scramClient) pbkdf2(salt []byte, iterations int) []byte {
	block := make([]byte, 4)
	binary.BigEndian.PutUint32(block, 1)
	u := c.hmac([]byte(c.password), append(append([]byte{}, salt...), block...))
	out := append([]byte{}, u...)
	for i := 1; i < iterations; i++ {
		u = c.hmac([]byte(c.password), u)
		for j := range out {
			out[j] ^= u[j]
		}
	}
	return out
}

func (c *scramClient) Step(challenge string) (string, error) {
	c.step++
	switch c.step {
	case 1:
		raw := make([]byte, 18)
		if _, err := rand.Read(raw); err != nil {
			return "", err
		}
		c.nonce = base64.StdEncoding.EncodeToString(raw)
		name := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(c.user)
		c.clientFirst = "n=" + name + ",r=" + c.nonce
		return "n,," + c.clientFirst, nil
	case 2:
		attrs := map[string]string{}
		for _, part := range strings.Split(challenge, ",") {
			if len(part) > 2 && part[1] == '=' {
				attrs[part[:1]] = part[2:]
			}
		}
		salt, err := base64.StdEncoding.DecodeString(attrs["s"])
		if err != nil {
			return "", fmt.Errorf("scram: bad salt: %v", err)
		}
		iterations, err := strconv.Atoi(attrs["i"])
		if err != nil || !strings.HasPrefix(attrs["r"], c.nonce) {
			return "", errors.New("scram: bad server-first message")
		}
		salted := c.pbkdf2(salt, iterations)
		clientKey := c.hmac(salted, []byte("Client Key"))
		h := c.newHash()
		h.Write(clientKey)
		storedKey := h.Sum(nil)
		withoutProof := "c=biws,r=" + attrs["r"]
		authMessage := c.clientFirst + "," + challenge + "," + withoutProof
		signature := c.hmac(storedKey, []byte(authMessage))
		proof := make([]byte, len(clientKey))
		for i := range proof {
			proof[i] = clientKey[i] ^ signature[i]
		}
		c.serverSig = c.hmac(c.hmac(salted, []byte("Server Key")), []byte(authMessage))
		return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
	case 3:
		if challenge != "v="+base64.StdEncoding.EncodeToString(c.serverSig) {
			return "", errors.New("scram: the server's signature does not match")
		}
		c.done = true
		return "", nil
	}
	return "", errors.New("scram: the exchange is over")
}

func (c *scramClient) Done() bool { return c.done }
